"""Real-time loops and sweeps: constant program size, the values played (checked by running the
programs in the event-level interpreter), bins that follow the loops, and every rule a loop adds
as a diagnostic naming the operation inside the loop's body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.compile import content_hash
from qconductor.adapters.virtual.interpreter import interpret_sequencer
from qconductor.adapters.virtual.trace import Event
from qconductor.protocol.compiled import CompiledJob, SequencerProgram
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    Delay,
    DragPulse,
    Idle,
    Loop,
    Schedule,
    SetClockFrequency,
    ShiftClockPhase,
    SquarePulse,
    SSBIntegrationComplex,
    TimedOperation,
    Trace,
    Var,
    linspace,
)
from qconductor.protocol.sweeps import FixedPointSweep, Linspace

ROOT = Path(__file__).resolve().parents[3]
MW = dict(port="q0:mw", clock="q0.01")
RO = dict(port="q0:res", clock="q0.ro")
CLOCKS = {"q0.01": 80e6, "q0.ro": 150e6}


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(json.loads((ROOT / "config/hardware/default.json").read_text()))


def readout(body: Any, **acq: Any) -> None:
    ro = body.add(SquarePulse(**RO, amplitude=0.2, duration=1000), delay=20)
    body.add(SSBIntegrationComplex(**RO, duration=900, **acq), ref=ro, ref_pt="start", delay=100)
    body.add(Idle(duration=1000))


def rabi(points: int, repetitions: int = 4) -> Schedule:
    sched = Schedule(name="rabi", repetitions=repetitions, clocks=CLOCKS)
    with sched.loop(amp=linspace(-0.8, 0.8, points)) as body:
        body.add(DragPulse(**MW, amplitude=body["amp"], beta=0.5, duration=40))
        readout(body)
    return sched


def sequencer(job: CompiledJob, slot: int, index: int = 0) -> SequencerProgram:
    (cluster,) = job.clusters
    module = next(m for m in cluster.modules if m.slot == slot)
    return module.sequencers[index]


def run(job: CompiledJob, slot: int) -> list[Event]:
    return interpret_sequencer(sequencer(job, slot), "seq").events()


def plays(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind == "play"]


def test_program_size_does_not_grow_with_the_points(hardware: HardwareConfig) -> None:
    sizes = set()
    for points in (2, 101, 100_000):
        job = compile_schedule(rabi(points), hardware)
        stats = [sequencer(job, slot).stats for slot in (1, 2)]
        sizes.add(tuple(s.instructions for s in stats if s is not None))
        assert job.acquisitions[0].num_bins == points
    assert len(sizes) == 1


def test_played_amplitudes_are_the_reported_ones_and_the_requested_rounded(
    hardware: HardwareConfig,
) -> None:
    job = compile_schedule(rabi(101, repetitions=1), hardware)
    events = plays(run(job, 1))
    assert len(events) == 101
    reported = job.acquisitions[0].sweep_coords()["amp"]
    (axis,) = job.acquisitions[0].sweeps
    sweep = axis.played["amp"]
    units = np.array([e.gain[0] * 32768 for e in events])  # the interpreter's int16 / 32768
    np.testing.assert_array_equal(units, sweep.units())
    np.testing.assert_allclose(reported, units / sweep.scale)
    requested = np.linspace(-0.8, 0.8, 101)
    assert np.max(np.abs(reported - requested) * sweep.scale) <= 0.53
    # the pulses play back to back, one per iteration
    period = 40 + 20 + 1000 + 1000
    assert [e.time - events[0].time for e in events] == [k * period for k in range(101)]


def test_frequency_sweeps_step_the_nco(hardware: HardwareConfig) -> None:
    sched = Schedule(name="spec", clocks=CLOCKS)
    with sched.loop(f=linspace(60e6, 100e6, 41), label=linspace(1.0, 41.0, 41)) as body:
        body.add(SetClockFrequency(**MW, frequency=body["f"]))
        body.add(SquarePulse(**MW, amplitude=0.3, duration=100))
        readout(body)
    job = compile_schedule(sched, hardware)
    events = plays(run(job, 1))
    np.testing.assert_allclose([e.nco_freq for e in events], np.linspace(60e6, 100e6, 41))
    coords = job.acquisitions[0].sweep_coords()
    np.testing.assert_allclose(coords["f"], np.linspace(60e6, 100e6, 41))
    # a variable nothing plays is a label: reported as requested
    np.testing.assert_array_equal(coords["label"], np.arange(1.0, 42.0))


def test_phase_sweeps_accumulate_shifts(hardware: HardwareConfig) -> None:
    sched = Schedule(name="phase", clocks=CLOCKS)
    steps = np.linspace(-90.0, 630.0, 25)  # negative and beyond a turn: the register wraps
    with sched.loop(ph=Linspace(start=-90.0, stop=630.0, num=25)) as body:
        body.add(ShiftClockPhase(**MW, phase_shift=body["ph"]))
        body.add(SquarePulse(**MW, amplitude=0.3, duration=100))
        readout(body)
    job = compile_schedule(sched, hardware)
    events = plays(run(job, 1))
    carrier = np.array([2 * np.pi * e.nco_freq * e.time * 1e-9 for e in events])
    expected = carrier + np.deg2rad(np.cumsum(steps))
    measured = np.array([e.nco_phase for e in events])
    np.testing.assert_allclose(np.angle(np.exp(1j * (measured - expected))), 0.0, atol=1e-6)


def test_nested_loops_fill_bins_outer_major(hardware: HardwareConfig) -> None:
    sched = Schedule(name="chevron", repetitions=2, clocks=CLOCKS)
    with (
        sched.loop(f=linspace(70e6, 90e6, 5)) as outer,
        outer.loop(amp=linspace(0.1, 0.5, 3)) as inner,
    ):
        inner.add(SetClockFrequency(**MW, frequency=outer["f"]))
        inner.add(DragPulse(**MW, amplitude=inner["amp"], beta=0.0, duration=20))
        readout(inner)
    job = compile_schedule(sched, hardware)
    spec = job.acquisitions[0]
    assert spec.num_bins == 15
    coords = spec.sweep_coords()
    np.testing.assert_allclose(coords["f"], np.repeat(np.linspace(70e6, 90e6, 5), 3))
    np.testing.assert_allclose(coords["amp"], np.tile(np.linspace(0.1, 0.5, 3), 5), atol=1e-4)
    drive = plays(run(job, 1))
    assert len(drive) == 2 * 15
    np.testing.assert_allclose([e.nco_freq for e in drive[:15]], coords["f"])
    acquisitions = [e for e in run(job, 2) if e.kind == "acquire"]
    assert [e.bin for e in acquisitions] == list(range(15)) * 2  # average: restart per repetition


def test_delays_stretch_the_body(hardware: HardwareConfig) -> None:
    sched = Schedule(name="t1", clocks=CLOCKS)
    # from 4 ns to beyond one wait's 65535 ns
    with sched.loop(tau=Linspace(start=4, stop=200_000, num=4)) as body:
        body.add(DragPulse(**MW, amplitude=0.5, beta=0.0, duration=40))
        body.add(Delay(length=body["tau"]))
        readout(body)
    job = compile_schedule(sched, hardware)
    played = FixedPointSweep.of(Linspace(start=4, stop=200_000, num=4), 1.0).units()
    drive, measure = plays(run(job, 1)), plays(run(job, 2))
    gaps = [m.time - d.time for d, m in zip(drive, measure, strict=True)]
    assert gaps == [40 + 20 + int(t) for t in played]
    assert list(played) == [4, 66_669, 133_335, 200_000]  # the requested, rounded
    body_ns = 40 + 20 + 1000 + 1000
    assert sched.duration == 4 * body_ns + int(played.sum())
    assert job.repetition_duration_ns == 4 + sched.duration


def test_the_repetition_body_around_a_loop(hardware: HardwareConfig) -> None:
    """Operations before and after a loop keep their times; a sequencer without operations in
    the loop waits through it."""
    sched = Schedule(name="around", clocks=CLOCKS)
    sched.add(SquarePulse(**MW, amplitude=0.1, duration=100))
    with sched.loop(count=3, delay=100) as body:
        body.add(SquarePulse(**RO, amplitude=0.1, duration=200))
        body.add(Idle(duration=100))
    sched.add(SquarePulse(**MW, amplitude=0.2, duration=100), delay=8)
    job = compile_schedule(sched, hardware)
    assert [e.time for e in plays(run(job, 1))] == [4, 4 + 200 + 900 + 8]
    assert [e.time for e in plays(run(job, 2))] == [4 + 200 + k * 300 for k in range(3)]


def _loop(body: list[TimedOperation], **sweeps: Linspace) -> TimedOperation:
    return TimedOperation(start=0, op=Loop(sweeps=sweeps, body=body))


def _at(start: int, op: Any) -> TimedOperation:
    return TimedOperation(start=start, op=op)


AMP = {"amp": Linspace(start=0.0, stop=0.5, num=10)}
TAU = {"tau": Linspace(start=8, stop=800, num=10)}
LOOP_INVALID = [
    (
        [_loop([_at(0, DragPulse(**MW, amplitude=Var(var="nope"), beta=0, duration=20))], **AMP)],
        ErrorCode.SCHEDULE_INVALID,
        "operations[0].op.body[0].op.amplitude",
    ),
    (
        [_at(0, Delay(length=Var(var="tau")))],
        ErrorCode.SCHEDULE_INVALID,
        "operations[0].op.length",
    ),
    (
        [
            _loop(
                [
                    _at(
                        0,
                        Loop(
                            count=2,
                            body=[
                                _at(0, Delay(length=Var(var="tau"))),
                                _at(0, SquarePulse(**MW, amplitude=0.1, duration=20)),
                            ],
                        ),
                    )
                ],
                **TAU,
            )
        ],
        ErrorCode.SCHEDULE_INVALID,
        "operations[0].op.body[0].op.body[0].op.length",
    ),
    (
        [
            _loop(
                [
                    _at(0, Delay(length=Var(var="tau"))),
                    _at(0, SquarePulse(**MW, amplitude=0.1, duration=20)),
                ],
                tau=Linspace(start=0, stop=100, num=5),
            )
        ],
        ErrorCode.SCHEDULE_INVALID,
        "operations[0].op.body[0].op.length",
    ),
    (
        [
            _loop([_at(0, SquarePulse(**MW, amplitude=0.1, duration=100))], **AMP),
            _at(500, SquarePulse(**RO, amplitude=0.1, duration=100)),
        ],
        ErrorCode.OPERATIONS_OVERLAP,
        "operations[1]",
    ),
    (
        [_loop([_at(0, SquarePulse(**MW, amplitude=Var(var="amp"), duration=4000))], **AMP)],
        ErrorCode.UNSUPPORTED_OPERATION,
        "operations[0].op.body[0].op.amplitude",
    ),
    (
        [
            _loop(
                [_at(0, DragPulse(**MW, amplitude=Var(var="amp"), beta=0, duration=20))],
                amp=Linspace(start=0.5, stop=1.5, num=3),
            )
        ],
        ErrorCode.AMPLITUDE_OUT_OF_RANGE,
        "operations[0].op.body[0].op.amplitude",
    ),
    (
        [
            _loop(
                [
                    _at(0, SetClockFrequency(**MW, frequency=Var(var="f"))),
                    _at(0, SquarePulse(**MW, amplitude=0.1, duration=20)),
                ],
                f=Linspace(start=0.0, stop=600e6, num=3),
            )
        ],
        ErrorCode.NCO_OUT_OF_RANGE,
        "operations[0].op.body[0].op.frequency",
    ),
    (
        [_loop([_at(0, SSBIntegrationComplex(**RO, duration=100))], **AMP)],
        ErrorCode.ACQUISITIONS_TOO_CLOSE,
        "operations[0].op.body[0]",
    ),
    (
        [
            _loop(
                [
                    _at(0, SSBIntegrationComplex(**RO, duration=100, bin_index=2)),
                    _at(400, Idle(duration=4)),
                ],
                **AMP,
            )
        ],
        ErrorCode.SCHEDULE_INVALID,
        "operations[0].op.body[0].op.bin_index",
    ),
    (
        [_loop([_at(0, Trace(**RO, duration=100)), _at(400, Idle(duration=4))], **AMP)],
        ErrorCode.UNSUPPORTED_OPERATION,
        "operations[0].op.body[0].op.kind",
    ),
    (
        [
            _loop(
                [_at(0, SSBIntegrationComplex(**RO, duration=100)), _at(400, Idle(duration=4))],
                **AMP,
            ),
            _at(5000, SSBIntegrationComplex(**RO, duration=100)),
        ],
        ErrorCode.SCHEDULE_INVALID,
        "operations[1].op.acq_channel",
    ),
    (
        [
            _loop(
                [
                    _at(0, SquarePulse(**MW, amplitude=0.1, duration=20)),
                    _at(20, ShiftClockPhase(**MW, phase_shift=90.0)),
                    _at(20, Idle(duration=3)),
                ],
                **AMP,
            )
        ],
        ErrorCode.OPERATIONS_TOO_CLOSE,
        "operations[0]",
    ),
]


@pytest.mark.parametrize(("operations", "code", "path"), LOOP_INVALID)
def test_invalid_loops_name_the_operation(
    hardware: HardwareConfig, operations: list[TimedOperation], code: ErrorCode, path: str
) -> None:
    sched = Schedule(name="bad", clocks=CLOCKS, operations=operations)
    with pytest.raises(QconductorError) as info:
        compile_schedule(sched, hardware)
    found = [(d.code, d.path) for d in info.value.details]
    assert (code, path) in found, found


def test_loop_models_reject_disagreeing_points() -> None:
    with pytest.raises(ValueError, match="disagree"):
        Loop(count=3, sweeps=AMP, body=[])
    with pytest.raises(ValueError, match="count or at least one sweep"):
        Loop(body=[])


def test_schedules_with_loops_round_trip_and_hash_apart(hardware: HardwareConfig) -> None:
    a, b = rabi(11), rabi(12)
    assert Schedule.model_validate(a.model_dump()) == a
    assert Schedule.model_validate_json(a.model_dump_json()) == a
    ha = compile_schedule(a, hardware).content_hash
    assert ha != compile_schedule(b, hardware).content_hash
    fresh = Schedule.model_validate(a.model_dump())  # its loop has not cached a duration
    assert "duration" not in fresh.operations[0].op.__dict__
    assert ha == content_hash(fresh, hardware)
