"""Oracle: the compiled programs, executed by q1simulator, play exactly what the schedule says.

Every output sample is compared against the signal computed from the schedule alone: each
pulse at its nanosecond, with its amplitude, phase and the NCO frequency of its clock, in every
repetition, and silence everywhere else. Acquisition windows open where the schedule puts them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.emit import PREAMBLE_NS
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    DragPulse,
    GaussPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
)
from tests.oracle.compiled import expected_iq, run_compiled
from tests.oracle.q1sim import FULL_SCALE_V

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "hardware" / "default.json"
# 16-bit output quantisation plus gain rounding: a few LSB of full scale.
ATOL_FRACTION = 4 / 32768

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(DEFAULT)


def two_qubit_schedule() -> Schedule:
    s = Schedule(
        name="oracle",
        repetitions=3,
        clocks={"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6, "q1.ro": 250e6},
    )
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=200), at=100)
    s.add(GaussPulse(port="q0:mw", clock="q0.01", amplitude=-0.3, duration=40, phase=90))
    s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.8, beta=4.0, duration=40), delay=8)
    s.add(DragPulse(port="q1:mw", clock="q1.01", amplitude=0.25, beta=-2.0, duration=48), at=100)
    s.add(Idle(duration=1000), at=300)
    ro = s.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.4, duration=600), at=1000)
    s.add(
        SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=400, bin_index=0),
        ref=ro,
        ref_pt="start",
        delay=120,
    )
    ro1 = s.add(SquarePulse(port="q1:res", clock="q1.ro", amplitude=0.3, duration=600), at=1000)
    s.add(
        SSBIntegrationComplex(port="q1:res", clock="q1.ro", duration=400, acq_channel=1),
        ref=ro1,
        ref_pt="start",
        delay=120,
    )
    return s


@pytest.fixture(scope="module")
def compiled(hardware: HardwareConfig) -> CompiledJob:
    return compile_schedule(two_qubit_schedule(), hardware)


def test_every_program_passes_our_validator(compiled: CompiledJob) -> None:
    for cluster in compiled.clusters:
        for module in cluster.modules:
            for seq in module.sequencers:
                if seq.sequence is not None:
                    limit = 16384 if module.module_type == "QCM" else 12288
                    assert validate_program(seq.sequence.program, max_instructions=limit) == []


def _compare(actual_i: np.ndarray, actual_q: np.ndarray, expected: np.ndarray, fs: float) -> None:
    n = len(expected)
    atol = ATOL_FRACTION * fs
    np.testing.assert_allclose(actual_i[:n], expected.real, atol=atol, rtol=0)
    np.testing.assert_allclose(actual_q[:n], expected.imag, atol=atol, rtol=0)
    assert np.abs(actual_i[n:]).max(initial=0) <= atol  # silence after the last repetition
    assert np.abs(actual_q[n:]).max(initial=0) <= atol


def test_drive_pulses_sample_by_sample(compiled: CompiledJob) -> None:
    run = run_compiled(compiled, slot=1)
    assert run.errors == []
    rep_ns = compiled.repetition_duration_ns
    length = rep_ns * compiled.repetitions
    fs = FULL_SCALE_V["QCM"]
    schedule = two_qubit_schedule()
    q0 = expected_iq(schedule, "q0:mw", "QCM", length, rep_ns)
    q1 = expected_iq(schedule, "q1:mw", "QCM", length, rep_ns)
    _compare(run.outputs[0], run.outputs[1], q0, fs)  # complex_output_0
    _compare(run.outputs[2], run.outputs[3], q1, fs)  # complex_output_1
    # the pulse really is there (the comparison is not vacuous) at the 80 MHz carrier
    window = run.outputs[0][PREAMBLE_NS + 100 : PREAMBLE_NS + 300]
    spectrum = np.abs(np.fft.rfft(window))
    assert np.fft.rfftfreq(len(window), 1e-9)[spectrum.argmax()] == pytest.approx(80e6, abs=5e6)
    assert np.abs(window).max() == pytest.approx(0.5 * fs / np.sqrt(2), rel=0.01)


def test_multiplexed_readout_is_summed_and_windows_open_on_time(compiled: CompiledJob) -> None:
    run = run_compiled(compiled, slot=2)
    assert run.errors == []
    rep_ns = compiled.repetition_duration_ns
    length = rep_ns * compiled.repetitions
    schedule = two_qubit_schedule()
    both = expected_iq(schedule, "q0:res", "QRM", length, rep_ns) + expected_iq(
        schedule, "q1:res", "QRM", length, rep_ns
    )
    _compare(run.outputs[0], run.outputs[1], both, FULL_SCALE_V["QRM"])
    start = PREAMBLE_NS + 1120
    expected_windows = [(r * rep_ns + start, r * rep_ns + start + 400) for r in range(3)]
    assert sorted(run.acq_windows) == [0, 1]
    assert run.acq_windows[0] == expected_windows
    assert run.acq_windows[1] == expected_windows


def test_amplitude_sweep_reuses_one_waveform(hardware: HardwareConfig) -> None:
    s = Schedule(name="sweep", clocks={"q0.01": 80e6})
    amplitudes = [-0.9, -0.3, 0.0, 0.45, 1.0]
    for a in amplitudes:
        s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=a, beta=1.0, duration=40), delay=60)
    job = compile_schedule(s, hardware)
    (seq,) = [q for q in job.clusters[0].modules[0].sequencers if q.sequence is not None]
    assert seq.sequence is not None
    assert len(seq.sequence.waveforms) == 2
    run = run_compiled(job, slot=1)
    rep_ns = job.repetition_duration_ns
    expected = expected_iq(s, "q0:mw", "QCM", rep_ns, rep_ns)
    _compare(run.outputs[0], run.outputs[1], expected, FULL_SCALE_V["QCM"])
