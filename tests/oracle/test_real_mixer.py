"""Oracle: real mode, mixer corrections and latency corrections, executed by q1simulator.

Expected signals come from the schedule alone (``expected_iq``), then the hardware's documented
operations are applied to them:

- real mode: a real output carries path 0 of its sequencer, ``Re(I + jQ)`` of the modulated
  signal, and no other output carries anything;
- mixer corrections, as qblox-instruments documents the parameters (``mixer_corr_gain_ratio``
  = path 1 amplitude / path 0 amplitude; ``mixer_corr_phase_offset_degree`` = phase of path 1
  relative to path 0) and as q1simulator 1.3.4 implements them (``rt_renderer._render``): path 1
  is ``Im(E * exp(j delta))`` for the modulated signal ``E``; then the larger path keeps its
  amplitude, the other is scaled: path 0 by ``1 / r`` when ``r > 1``, path 1 by ``r`` when
  ``r < 1``;
- latency correction: a pure delay, the corrected port-clock's output is the uncorrected one
  ``L`` ns later (pulses and carrier phase alike), and the others are unchanged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.schedule import DragPulse, GaussPulse, Schedule, SquarePulse
from tests.oracle.compiled import expected_iq, run_compiled
from tests.oracle.q1sim import FULL_SCALE_V, ModuleRun
from tests.unit.compiler.rf_cases import baseband

ATOL_FRACTION = 4 / 32768

pytestmark = pytest.mark.timeout(120)


config = baseband  # one cluster of the given modules and edges (shared with the unit tests)


def run(job: CompiledJob, slot: int) -> ModuleRun:
    for cluster in job.clusters:
        for module in cluster.modules:
            for seq in module.sequencers:
                if seq.sequence is not None:
                    assert validate_program(seq.sequence.program) == []
    result = run_compiled(job, slot)
    assert result.errors == []
    return result


def close(actual: npt.NDArray[np.float64], expected: npt.NDArray[np.float64], fs: float) -> None:
    n = len(expected)
    atol = ATOL_FRACTION * fs
    np.testing.assert_allclose(actual[:n], expected, atol=atol, rtol=0)
    assert np.abs(actual[n:]).max(initial=0) <= atol


def silent(actual: npt.NDArray[np.float64], fs: float) -> None:
    assert np.abs(actual).max(initial=0) <= ATOL_FRACTION * fs


# --- real mode ----------------------------------------------------------------------------------


def test_real_output_plays_on_its_output_only_modulated() -> None:
    hardware = config(
        {1: "QCM"},
        [["cluster0.module1.real_output_1", "q0:fl"], ["cluster0.module1.real_output_3", "q1:fl"]],
    )
    s = Schedule(name="real", repetitions=2, clocks={"q0.fl": 40e6, "q1.fl": -25e6})
    s.add(SquarePulse(port="q0:fl", clock="q0.fl", amplitude=0.6, duration=200), at=20)
    s.add(GaussPulse(port="q0:fl", clock="q0.fl", amplitude=-0.4, duration=60), at=300)
    s.add(GaussPulse(port="q1:fl", clock="q1.fl", amplitude=0.7, duration=80, phase=180), at=100)
    job = compile_schedule(s, hardware)
    result = run(job, slot=1)
    rep_ns, fs = job.repetition_duration_ns, FULL_SCALE_V["QCM"]
    length = rep_ns * job.repetitions
    q0 = expected_iq(s, "q0:fl", "QCM", length, rep_ns)
    close(result.outputs[1], q0.real, fs)  # path 0 = I cos - Q sin, with Q = 0
    close(result.outputs[3], expected_iq(s, "q1:fl", "QCM", length, rep_ns).real, fs)
    silent(result.outputs[0], fs)
    silent(result.outputs[2], fs)
    window = result.outputs[1][4 + 20 : 4 + 220]  # modulated at the clock, not a DC level
    spectrum = np.abs(np.fft.rfft(window))
    assert np.fft.rfftfreq(len(window), 1e-9)[spectrum.argmax()] == pytest.approx(40e6, abs=6e6)
    assert np.abs(window).max() == pytest.approx(0.6 * fs / np.sqrt(2), rel=0.01)


def test_two_real_outputs_of_a_qrm_stay_apart() -> None:
    hardware = config(
        {1: "QRM"},
        [["cluster0.module1.real_output_0", "q0:a"], ["cluster0.module1.real_output_1", "q0:b"]],
    )
    s = Schedule(name="real", clocks={"a": 30e6, "b": 70e6})
    s.add(SquarePulse(port="q0:a", clock="a", amplitude=0.5, duration=120), at=0)
    s.add(SquarePulse(port="q0:b", clock="b", amplitude=0.3, duration=120), at=60)
    job = compile_schedule(s, hardware)
    result = run(job, slot=1)
    rep_ns, fs = job.repetition_duration_ns, FULL_SCALE_V["QRM"]
    close(result.outputs[0], expected_iq(s, "q0:a", "QRM", rep_ns, rep_ns).real, fs)
    close(result.outputs[1], expected_iq(s, "q0:b", "QRM", rep_ns, rep_ns).real, fs)


# --- mixer corrections --------------------------------------------------------------------------


def corrected(
    signal: npt.NDArray[np.complex128], ratio: float, phase_deg: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(path 0, path 1) of the modulated ``signal`` after the sequencer's mixer corrections."""
    path0 = signal.real.copy()
    path1 = (signal * np.exp(1j * np.deg2rad(phase_deg))).imag
    if ratio > 1:
        path0 /= ratio
    else:
        path1 *= ratio
    return path0, path1


@pytest.mark.parametrize(("ratio", "phase"), [(0.8, 10.0), (1.25, -20.0), (1.0, 0.0)])
def test_mixer_corrections_on_a_complex_output(ratio: float, phase: float) -> None:
    hardware = config(
        {1: "QCM"},
        [["cluster0.module1.complex_output_1", "q0:mw"]],
        mixer_corrections={"q0:mw-q0.01": {"amp_ratio": ratio, "phase_error": phase}},
    )
    s = Schedule(name="mixer", repetitions=2, clocks={"q0.01": 60e6})
    s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.7, duration=80, beta=3.0), at=0)
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=100, phase=30))
    job = compile_schedule(s, hardware)
    (seq,) = [q for q in job.clusters[0].modules[0].sequencers if q.sequence is not None]
    assert seq.settings.mixer_corr_gain_ratio == ratio
    assert seq.settings.mixer_corr_phase_offset_degree == phase
    result = run(job, slot=1)
    rep_ns, fs = job.repetition_duration_ns, FULL_SCALE_V["QCM"]
    expected = expected_iq(s, "q0:mw", "QCM", rep_ns * job.repetitions, rep_ns)
    path0, path1 = corrected(expected, ratio, phase)
    close(result.outputs[2], path0, fs)
    close(result.outputs[3], path1, fs)
    if ratio != 1.0:  # the correction is visible: the paths' amplitudes differ by the ratio
        assert np.abs(result.outputs[3]).max() / np.abs(result.outputs[2]).max() == (
            pytest.approx(ratio, rel=0.02)
        )


# --- latency corrections ------------------------------------------------------------------------

TWO_DRIVES = [
    ["cluster0.module1.complex_output_0", "q0:mw"],
    ["cluster0.module1.complex_output_1", "q1:mw"],
]


def two_drives() -> Schedule:
    s = Schedule(name="latency", repetitions=2, clocks={"q0.01": 80e6, "q1.01": -45e6})
    s.add(GaussPulse(port="q0:mw", clock="q0.01", amplitude=0.6, duration=40), at=0)
    s.add(DragPulse(port="q1:mw", clock="q1.01", amplitude=0.5, duration=48, beta=2.0), at=0)
    s.add(SquarePulse(port="q1:mw", clock="q1.01", amplitude=0.4, duration=100), at=100)
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.3, duration=60, phase=45), at=200)
    s.add(GaussPulse(port="q0:mw", clock="q0.01", amplitude=0.2, duration=20), at=380)
    return s


@pytest.mark.parametrize(("latencies", "delay"), [({"q1:mw-q1.01": 12e-9}, 12), ({}, 0)])
def test_latency_correction_is_a_pure_delay(latencies: dict[str, float], delay: int) -> None:
    # q0:mw is corrected by -5 ns: q1:mw (0 ns) becomes the late one, by 5 + its own
    options = {"latency_corrections": {"q0:mw-q0.01": -5e-9, **latencies}}
    corrected_job = compile_schedule(two_drives(), config({1: "QCM"}, TWO_DRIVES, **options))
    plain_job = compile_schedule(two_drives(), config({1: "QCM"}, TWO_DRIVES))
    late, plain = run(corrected_job, slot=1), run(plain_job, slot=1)
    shift = 5 + delay
    rep_ns = plain_job.repetition_duration_ns
    assert corrected_job.repetition_duration_ns == rep_ns  # the schedule ends with room to spare
    fs = FULL_SCALE_V["QCM"]
    length = rep_ns * plain_job.repetitions
    for out in (0, 1):  # q0:mw, the earliest: unchanged
        close(late.outputs[out], plain.outputs[out][:length], fs)
    for out in (2, 3):  # q1:mw: the same samples, ``shift`` ns later
        actual = late.outputs[out]
        delayed = np.zeros(len(actual))
        delayed[shift:] = plain.outputs[out][: len(actual) - shift]
        silent(plain.outputs[out][len(actual) - shift :], fs)  # nothing was cut off
        close(actual, delayed, fs)
    assert np.abs(plain.outputs[2]).max() > 0.3 * fs / np.sqrt(2)  # not vacuous
