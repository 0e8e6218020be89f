"""From a sequencer's operations to its IR block, checking the real-time rules on the way.

Rules (see QBLOX_FACTS.md): real-time instructions are at least 4 ns apart on one sequencer;
pulses on one sequencer must not overlap (one AWG plays one waveform at a time); acquisitions
must not overlap and start at least 300 ns apart; the integration length is one sequencer
setting, so every integration on a sequencer has the same duration, a multiple of 4 ns in
4..16777212; the gain after normalisation is at most full scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics, op_path
from qconductor.adapters.qblox.compiler.emit import MIN_DURATION
from qconductor.adapters.qblox.compiler.ir import Acquire, Block, Event, Play
from qconductor.adapters.qblox.compiler.waveforms import WaveformTable
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.schedule import SSBIntegrationComplex, TimedOperation

MIN_ACQUISITION_SPACING = 300
MAX_INTEGRATION_LENGTH = 16_777_212
MAX_ACQ_INDICES = 32
MAX_BINS = 131_072


@dataclass
class AcqChannelUse:
    acq_index: int
    num_bins: int = 0


@dataclass
class SequencerTimeline:
    """What one sequencer plays, ready to emit."""

    name: str  # e.g. cluster0.module2.sequencer0, for messages
    events: list[Event] = field(default_factory=list)
    waveforms: WaveformTable = field(default_factory=WaveformTable)
    acq_channels: dict[int, AcqChannelUse] = field(default_factory=dict)
    integration_length: int | None = None
    has_pulses: bool = False
    has_acquisitions: bool = False

    @property
    def end(self) -> int:
        """The earliest time the repetition may end for this sequencer."""
        return max((e.time + max(e.duration, MIN_DURATION) for e in self.events), default=0)

    def block(self, duration: int) -> Block:
        return Block(duration=duration, events=list(self.events))


def build_timeline(
    name: str, ops: Sequence[tuple[int, TimedOperation]], diag: Diagnostics
) -> SequencerTimeline:
    """``ops``: (schedule index, timed operation) for every operation on this sequencer."""
    tl = SequencerTimeline(name=name)
    ordered = sorted(ops, key=lambda item: item[1].start)
    last_pulse: tuple[int, int] | None = None  # (index, end)
    last_acq: tuple[int, int, int] | None = None  # (index, start, end)
    last_event: tuple[int, int] | None = None  # (index, time)
    for index, timed in ordered:
        op = timed.op
        if op.kind == "idle":
            continue
        if last_event is not None and timed.start - last_event[1] < MIN_DURATION:
            gap = timed.start - last_event[1]
            diag.error(
                ErrorCode.OPERATIONS_TOO_CLOSE,
                f"starts {gap} ns after operations[{last_event[0]}] on {name}; "
                f"real-time operations on one sequencer must be at least {MIN_DURATION} ns apart",
                op_path(index),
                hint=f"move it to t >= {last_event[1] + MIN_DURATION} ns",
            )
        last_event = (index, timed.start)
        if isinstance(op, SSBIntegrationComplex):
            _check_acquisition(tl, index, timed, last_acq, diag)
            last_acq = (index, timed.start, timed.end)
            tl.events.append(_acquire(tl, index, timed, op, diag))
        else:
            if last_pulse is not None and timed.start < last_pulse[1]:
                diag.error(
                    ErrorCode.OPERATIONS_OVERLAP,
                    f"overlaps operations[{last_pulse[0]}] (which ends at {last_pulse[1]} ns) "
                    f"on {name}; one sequencer plays one pulse at a time",
                    op_path(index),
                    hint="delay it, or put the pulses on different clocks (sequencers)",
                )
            last_pulse = (index, timed.end)
            tl.has_pulses = True
            sampled = tl.waveforms.add_pulse(op)
            if abs(sampled.gain) > 1.0 + 1e-12:
                diag.error(
                    ErrorCode.AMPLITUDE_OUT_OF_RANGE,
                    f"needs {abs(sampled.gain):.4f} of full scale after normalising the "
                    f"{op.kind} envelope; the maximum is 1.0",
                    op_path(index, "amplitude"),
                    hint=f"use |amplitude| <= {abs(op.amplitude) / abs(sampled.gain):.4f}",
                )
            tl.events.append(
                Play(timed.start, sampled.wave_i, sampled.wave_q, sampled.gain, index, op.duration)
            )
    return tl


def _check_acquisition(
    tl: SequencerTimeline,
    index: int,
    timed: TimedOperation,
    last_acq: tuple[int, int, int] | None,
    diag: Diagnostics,
) -> None:
    if last_acq is None:
        return
    prev_index, prev_start, prev_end = last_acq
    if timed.start < prev_end:
        diag.error(
            ErrorCode.OPERATIONS_OVERLAP,
            f"acquisition overlaps operations[{prev_index}] (which ends at {prev_end} ns) "
            f"on {tl.name}",
            op_path(index),
        )
    elif timed.start - prev_start < MIN_ACQUISITION_SPACING:
        diag.error(
            ErrorCode.ACQUISITIONS_TOO_CLOSE,
            f"starts {timed.start - prev_start} ns after the acquisition operations[{prev_index}]"
            f" on {tl.name}; acquisitions must start at least {MIN_ACQUISITION_SPACING} ns apart",
            op_path(index),
            hint=f"move it to t >= {prev_start + MIN_ACQUISITION_SPACING} ns",
        )


def _acquire(
    tl: SequencerTimeline,
    index: int,
    timed: TimedOperation,
    op: SSBIntegrationComplex,
    diag: Diagnostics,
) -> Acquire:
    tl.has_acquisitions = True
    length = op.duration
    if length % 4 or not 4 <= length <= MAX_INTEGRATION_LENGTH:
        diag.error(
            ErrorCode.INTEGRATION_LENGTH_INVALID,
            f"integration length {length} ns is not a multiple of 4 in 4..{MAX_INTEGRATION_LENGTH}",
            op_path(index, "duration"),
            hint=f"use {max(4, length - length % 4)} ns",
        )
    elif tl.integration_length is None:
        tl.integration_length = length
    elif tl.integration_length != length:
        diag.error(
            ErrorCode.INTEGRATION_LENGTH_INVALID,
            f"integrates {length} ns but an earlier acquisition on {tl.name} integrates "
            f"{tl.integration_length} ns; the integration length is one setting per sequencer",
            op_path(index, "duration"),
            hint=f"use {tl.integration_length} ns, or another clock for this acquisition",
        )
    use = tl.acq_channels.get(op.acq_channel)
    if use is None:
        use = AcqChannelUse(acq_index=len(tl.acq_channels))
        if use.acq_index >= MAX_ACQ_INDICES:
            diag.error(
                ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
                f"{tl.name} would need more than {MAX_ACQ_INDICES} acquisition channels",
                op_path(index, "acq_channel"),
            )
        tl.acq_channels[op.acq_channel] = use
    use.num_bins = max(use.num_bins, op.bin_index + 1)
    if use.num_bins > MAX_BINS:
        diag.error(
            ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
            f"bin index {op.bin_index} exceeds the {MAX_BINS} bins of a sequencer",
            op_path(index, "bin_index"),
        )
    return Acquire(timed.start, use.acq_index, op.bin_index, index, op.duration)
