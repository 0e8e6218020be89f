"""Conditional playback (active reset): trigger addresses, latches, ``set_cond`` and the timing
rules, checked on the programs and by running them in the event interpreter with and without
the trigger."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.virtual.interpreter import interpret_sequencer
from qconductor.adapters.virtual.trace import Event
from qconductor.protocol.compiled import CompiledJob, SequencerProgram
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    Conditional,
    DragPulse,
    Schedule,
    ShiftClockPhase,
    SquarePulse,
    SSBIntegrationComplex,
    ThresholdedAcquisition,
    TimedOperation,
    linspace,
)

ROOT = Path(__file__).resolve().parents[3]
MW = dict(port="q0:mw", clock="q0.01")
MW1 = dict(port="q1:mw", clock="q1.01")
RO = dict(port="q0:res", clock="q0.ro")
CLOCKS = {"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6}
PI = DragPulse(**MW, amplitude=0.5, beta=0.0, duration=40)


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(json.loads((ROOT / "config/hardware/default.json").read_text()))


def active_reset(delay: int = 400, body: list[TimedOperation] | None = None) -> Schedule:
    s = Schedule(name="reset", repetitions=4, clocks=CLOCKS)
    s.add(DragPulse(**MW, amplitude=0.25, beta=0.0, duration=40))
    ro = s.add(SquarePulse(**RO, amplitude=0.2, duration=1000), delay=20)
    acq = s.add(
        ThresholdedAcquisition(**RO, duration=900, threshold=0.01, feedback_trigger_label="q0"),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    block = body if body is not None else [TimedOperation(start=0, op=PI)]
    s.add(Conditional(trigger="q0", body=block), ref=acq, delay=delay)
    ro2 = s.add(SquarePulse(**RO, amplitude=0.2, duration=1000), delay=20)
    s.add(
        SSBIntegrationComplex(**RO, duration=900, acq_channel=1), ref=ro2, ref_pt="start", delay=100
    )
    return s


def sequencer(job: CompiledJob, slot: int, index: int = 0) -> SequencerProgram:
    (cluster,) = job.clusters
    return next(m for m in cluster.modules if m.slot == slot).sequencers[index]


def plays(program: SequencerProgram, fired: bool) -> list[Event]:
    def triggers(start: int, stop: int) -> Collection[int]:
        return {1} if fired else set()

    trace = interpret_sequencer(program, "seq", triggers=triggers)
    return [e for e in trace.events() if e.kind == "play"]


def test_the_feedback_acquisition_drives_trigger_one(hardware: HardwareConfig) -> None:
    job = compile_schedule(active_reset(), hardware)
    readout = sequencer(job, 2).settings
    assert readout.thresholded_acq_trigger_en is True
    assert readout.thresholded_acq_trigger_address == 1
    assert readout.thresholded_acq_trigger_invert is False
    # every other input sequencer of the module is told explicitly: no trigger
    assert all(
        s.settings.thresholded_acq_trigger_en is False
        for s in job.clusters[0].modules[1].sequencers[1:]
    )


def test_the_block_plays_only_on_a_trigger_and_keeps_the_timeline(
    hardware: HardwareConfig,
) -> None:
    job = compile_schedule(active_reset(), hardware)
    drive = sequencer(job, 1)
    program = drive.sequence.program if drive.sequence else ""
    assert "set_latch_en 1, 4" in program
    assert "set_cond 1, 1, 0, 4" in program
    assert "set_cond 0, 1, 0, 4" in program
    fired, quiet = plays(drive, fired=True), plays(drive, fired=False)
    assert len(fired) == 2 * 4
    assert len(quiet) == 4
    # the pi pulse at 20 + 100 + 900 + 400 ns after the first pulse's end, in every repetition
    assert fired[1].time - fired[0].time == 40 + 20 + 100 + 900 + 400
    assert fired[1].gain[0] > 1.9 * fired[0].gain[0]
    # the repetitions last the same either way
    assert [e.time for e in fired[::2]] == [e.time for e in quiet]


def test_gains_are_set_again_after_a_block(hardware: HardwareConfig) -> None:
    """A skipped play drops the gain latched with it: the next play sets its own."""
    s = active_reset()
    s.add(DragPulse(**MW, amplitude=0.5, beta=0.0, duration=40), delay=100)
    job = compile_schedule(s, hardware)
    quiet = plays(sequencer(job, 1), fired=False)
    assert quiet[1].gain[0] == pytest.approx(2 * quiet[0].gain[0], abs=1e-4)


def test_trigger_addresses_are_allocated_per_label(hardware: HardwareConfig) -> None:
    s = active_reset()
    ro = s.add(SquarePulse(**RO, amplitude=0.2, duration=1000), delay=400)
    acq = s.add(
        ThresholdedAcquisition(
            **RO, duration=900, threshold=0.01, acq_channel=2, feedback_trigger_label="herald"
        ),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    s.add(Conditional(trigger="herald", body=[TimedOperation(start=0, op=PI)]), ref=acq, delay=400)
    with pytest.raises(QconductorError) as info:  # one sequencer, one trigger address setting
        compile_schedule(s, hardware)
    assert info.value.details[0].path.endswith("feedback_trigger_label")


CONDITIONAL_INVALID = [
    (dict(delay=300), ErrorCode.OPERATIONS_TOO_CLOSE, "operations[3]"),
    (
        dict(body=[TimedOperation(start=0, op=SSBIntegrationComplex(**RO, duration=100))]),
        ErrorCode.UNSUPPORTED_OPERATION,
        "operations[3].op.body[0].op.kind",
    ),
    (
        dict(
            body=[
                TimedOperation(start=0, op=ShiftClockPhase(**MW, phase_shift=90)),
                TimedOperation(start=6, op=PI),
            ]
        ),
        ErrorCode.OPERATIONS_TOO_CLOSE,
        "operations[3].op.body[1]",
    ),
]


@pytest.mark.parametrize(("kw", "code", "path"), CONDITIONAL_INVALID)
def test_invalid_blocks_name_the_operation(
    hardware: HardwareConfig, kw: dict[str, object], code: ErrorCode, path: str
) -> None:
    with pytest.raises(QconductorError) as info:
        compile_schedule(active_reset(**kw), hardware)  # type: ignore[arg-type]
    assert (code, path) in [(d.code, d.path) for d in info.value.details]


def test_a_block_needs_its_trigger(hardware: HardwareConfig) -> None:
    s = Schedule(name="orphan", clocks=CLOCKS)
    s.add(Conditional(trigger="nobody", body=[TimedOperation(start=0, op=PI)]), at=1000)
    with pytest.raises(QconductorError) as info:
        compile_schedule(s, hardware)
    assert [(d.code, d.path) for d in info.value.details] == [
        (ErrorCode.SCHEDULE_INVALID, "operations[0].op.trigger")
    ]


def test_active_reset_in_a_loop(hardware: HardwareConfig) -> None:
    """The block in a loop body: latches reset in every iteration."""
    s = Schedule(name="reset-sweep", clocks=CLOCKS)
    with s.loop(amp=linspace(0.0, 0.5, 5)) as body:
        body.add(DragPulse(**MW, amplitude=body["amp"], beta=0.0, duration=40))
        ro = body.add(SquarePulse(**RO, amplitude=0.2, duration=1000), delay=20)
        acq = body.add(
            ThresholdedAcquisition(**RO, duration=900, threshold=0.0, feedback_trigger_label="q0"),
            ref=ro,
            ref_pt="start",
            delay=100,
        )
        body.add(
            Conditional(trigger="q0", body=[TimedOperation(start=0, op=PI)]), ref=acq, delay=400
        )
        body.add(SquarePulse(**MW1, amplitude=0.1, duration=100), delay=100)
    job = compile_schedule(s, hardware)
    assert len(plays(sequencer(job, 1), fired=True)) == 10
    assert len(plays(sequencer(job, 1), fired=False)) == 5
    assert job.acquisitions[0].num_bins == 5


def test_acquisitions_of_the_feedback_sequencer_end_a_latency_apart(
    hardware: HardwareConfig,
) -> None:
    """Every acquisition of the sequencer goes on the trigger network: one ending less than the
    trigger latency before the feedback acquisition ends would land after the latch reset."""
    s = Schedule(name="stale", clocks=CLOCKS)
    s.add(SSBIntegrationComplex(**RO, duration=100, acq_channel=5), at=0)
    acq = s.add(
        ThresholdedAcquisition(**RO, duration=100, threshold=0.0, feedback_trigger_label="q0"),
        at=300,
    )
    s.add(Conditional(trigger="q0", body=[TimedOperation(start=0, op=PI)]), ref=acq, delay=400)
    with pytest.raises(QconductorError) as info:
        compile_schedule(s, hardware)
    assert [(d.code, d.path) for d in info.value.details] == [
        (ErrorCode.OPERATIONS_TOO_CLOSE, "operations[2].op.trigger")
    ]
    # 364 ns between the ends: accepted, and the latches reset when the feedback one ends
    s.operations[1] = TimedOperation(start=364, op=s.operations[1].op)
    s.operations[2] = TimedOperation(start=364 + 100 + 400, op=s.operations[2].op)
    job = compile_schedule(s, hardware)
    program = sequencer(job, 1).sequence
    assert program is not None
    assert "set_latch_en 1, 4" in program.program


def test_two_labels_get_two_trigger_addresses(hardware: HardwareConfig) -> None:
    s = Schedule(name="two", clocks={**CLOCKS, "q1.ro": 250e6})
    for q in (0, 1):
        res = dict(port=f"q{q}:res", clock=f"q{q}.ro")
        s.add(
            ThresholdedAcquisition(
                **res, duration=100, threshold=0.0, acq_channel=q, feedback_trigger_label=f"q{q}"
            ),
            at=0,
        )
    for q, mw in ((0, MW), (1, MW1)):
        pi = DragPulse(**mw, amplitude=0.5, beta=0.0, duration=40)
        s.add(Conditional(trigger=f"q{q}", body=[TimedOperation(start=0, op=pi)]), at=1000)
    job = compile_schedule(s, hardware)
    addresses = [sequencer(job, 2, i).settings.thresholded_acq_trigger_address for i in (0, 1)]
    assert sorted(addresses) == [1, 2]  # type: ignore[type-var]
    masks = {
        f"set_cond 1, {1 << (a - 1)}, 0, 4"  # type: ignore[operator]
        for a in addresses
    }
    programs = [sequencer(job, 1, i).sequence for i in (0, 1)]
    assert {line.strip() for p in programs if p for line in p.program.splitlines()} >= masks
