"""Oracle: every pulse shape, DC offsets, markers and NCO operations, executed by q1simulator,
sample by sample against the reference model computed from the schedule alone."""

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
    ChirpPulse,
    DragPulse,
    GaussPulse,
    MarkerPulse,
    NumericalPulse,
    RampPulse,
    ResetClockPhase,
    Schedule,
    SetClockFrequency,
    ShiftClockPhase,
    SoftSquarePulse,
    SquarePulse,
    StaircasePulse,
    VoltageOffset,
)
from tests.oracle.compiled import expected_iq, module_of, run_compiled
from tests.oracle.q1sim import FULL_SCALE_V

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "hardware" / "default.json"
ATOL = 4 / 32768 * FULL_SCALE_V["QCM"]

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(DEFAULT)  # q0:trig is digital_output_0 of the QCM


def _check(schedule: Schedule, job: CompiledJob) -> None:
    for module in job.clusters[0].modules:
        for seq in module.sequencers:
            if seq.sequence is not None:
                assert validate_program(seq.sequence.program) == []
    run = run_compiled(job, slot=1)
    assert run.errors == []
    rep_ns = job.repetition_duration_ns
    length = rep_ns * job.repetitions
    expected = expected_iq(schedule, "q0:mw", "QCM", length, rep_ns)
    np.testing.assert_allclose(run.outputs[0][:length], expected.real, atol=ATOL, rtol=0)
    np.testing.assert_allclose(run.outputs[1][:length], expected.imag, atol=ATOL, rtol=0)
    assert np.abs(run.outputs[0][length:]).max(initial=0) <= ATOL


def _sched(repetitions: int = 2) -> Schedule:
    return Schedule(name="shapes", repetitions=repetitions, clocks={"q0.01": 80e6})


def test_every_pulse_shape(hardware: HardwareConfig) -> None:
    s = _sched()
    kw = {"port": "q0:mw", "clock": "q0.01"}
    rng = np.random.default_rng(7)
    s.add(SquarePulse(amplitude=0.3, duration=100, phase=30, **kw), at=0)
    s.add(RampPulse(amplitude=0.5, duration=200, **kw), delay=8)
    s.add(GaussPulse(amplitude=-0.4, duration=40, **kw), delay=8)
    s.add(DragPulse(amplitude=0.6, beta=3.0, duration=48, phase=-45, **kw), delay=8)
    s.add(SoftSquarePulse(amplitude=0.5, duration=120, rise_time=20, **kw), delay=8)
    s.add(ChirpPulse(amplitude=0.4, duration=300, start_freq=-20e6, end_freq=20e6, **kw), delay=8)
    samples = rng.uniform(-0.5, 0.5, size=(2, 64))
    s.add(
        NumericalPulse(
            samples_i=samples[0].tolist(),
            samples_q=samples[1].tolist(),
            amplitude=0.8,
            duration=64,
            **kw,
        ),
        delay=8,
    )
    _check(s, compile_schedule(s, hardware))


def test_long_pulses_cost_no_waveform_memory(hardware: HardwareConfig) -> None:
    s = _sched()
    kw = {"port": "q0:mw", "clock": "q0.01"}
    s.add(SquarePulse(amplitude=0.4, duration=30_000, phase=60, **kw), at=0)
    s.add(RampPulse(amplitude=-0.6, offset=0.3, duration=5_500, **kw), delay=100)
    s.add(
        StaircasePulse(
            start_amplitude=-0.5, final_amplitude=0.5, num_steps=11, duration=2_200, **kw
        ),
        delay=100,
    )
    job = compile_schedule(s, hardware)
    (seq,) = [q for q in module_of(job, 1).sequencers if q.stats is not None]
    assert seq.stats is not None
    # the ramp's full segment and its shorter last segment; nothing for square and staircase
    assert seq.stats.waveform_samples == 2 * (1000 + 500)
    _check(s, job)


def test_voltage_offsets_hold_until_changed_and_reset_each_repetition(
    hardware: HardwareConfig,
) -> None:
    s = _sched(repetitions=3)
    kw = {"port": "q0:mw", "clock": "q0.01"}
    s.add(VoltageOffset(offset_i=0.2, offset_q=-0.1, **kw), at=0)
    s.add(GaussPulse(amplitude=0.5, duration=40, **kw), at=100)  # on top of the offset
    s.add(VoltageOffset(offset_i=0.0, offset_q=0.0, **kw), at=400)
    s.add(SquarePulse(amplitude=0.1, duration=20, **kw), at=600)
    _check(s, compile_schedule(s, hardware))


def test_nco_frequency_phase_and_reset(hardware: HardwareConfig) -> None:
    s = _sched()
    kw = {"port": "q0:mw", "clock": "q0.01"}
    s.add(SquarePulse(amplitude=0.3, duration=100, **kw), at=0)
    s.add(ShiftClockPhase(phase_shift=90, **kw), at=200)
    s.add(SquarePulse(amplitude=0.3, duration=100, **kw), at=200)
    s.add(SetClockFrequency(frequency=50e6, **kw), at=400)
    s.add(SquarePulse(amplitude=0.3, duration=200, **kw), at=400)
    s.add(ResetClockPhase(**kw), at=700)
    s.add(SquarePulse(amplitude=0.3, duration=100, **kw), at=700)
    _check(s, compile_schedule(s, hardware))


def test_marker_pulse_raises_its_digital_output(hardware: HardwareConfig) -> None:
    s = _sched()
    s.add(MarkerPulse(port="q0:trig", duration=200), at=100)
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.2, duration=40), at=150)
    job = compile_schedule(s, hardware)
    run = run_compiled(job, slot=1)
    assert run.errors == []
    rep_ns = job.repetition_duration_ns
    marker = run.marker_outputs[0]
    for rep in range(2):
        start = rep * rep_ns + PREAMBLE_NS + 100
        assert marker[start : start + 200].all()
        assert not marker[start - 4 : start].any()
        assert not marker[start + 200 : start + 204].any()
    assert sum(bool(run.marker_outputs[b].any()) for b in run.marker_outputs) == 1


def test_a_long_gap_loop_keeps_the_next_pulse_on_its_nanosecond(hardware: HardwareConfig) -> None:
    s = _sched(repetitions=1)
    kw = {"port": "q0:mw", "clock": "q0.01"}
    s.add(GaussPulse(amplitude=0.5, duration=40, **kw), at=0)
    s.add(GaussPulse(amplitude=0.5, duration=40, **kw), at=1_500_000)  # 1.5 ms: a wait loop
    job = compile_schedule(s, hardware)
    (seq,) = [q for q in module_of(job, 1).sequencers if q.sequence is not None]
    assert seq.sequence is not None
    assert "loop R63" in seq.sequence.program
    _check(s, job)
