"""From a sequencer's operations to its ordered events, checking the real-time rules.

Operations are lowered in start order (lowering keeps state: offsets, bins); the events are then
sorted, events at one instant merged (their parameters applied together), and checked:
real-time instructions at least 4 ns apart; one play at a time (a pulse must not start while
the previous one plays); acquisitions must not overlap and must start at least 300 ns apart.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from qconductor.adapters.qblox.compiler.context import SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import op_path
from qconductor.adapters.qblox.compiler.emit import MIN_DURATION
from qconductor.adapters.qblox.compiler.ir import Acquire, AcquireTtl, Event, Play
from qconductor.adapters.qblox.compiler.lowering import lower
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.schedule import TimedOperation

MIN_ACQUISITION_SPACING = 300
_event_time = operator.attrgetter("time")


def _start_of(item: tuple[int, TimedOperation]) -> int:
    return item[1].start


def build_events(ctx: SeqContext, ops: Sequence[tuple[int, TimedOperation]]) -> list[Event]:
    """``ops``: (schedule index, timed operation) for every operation on this sequencer."""
    raw: list[Event] = []
    in_order = ops if ctx.alloc.ops_in_order else sorted(ops, key=_start_of)
    for index, timed in in_order:
        raw.extend(lower(ctx, index, timed))
    if ctx.alloc.latency_ns:
        for event in raw:
            event.time += ctx.alloc.latency_ns
            if event.busy_until is not None:
                event.busy_until += ctx.alloc.latency_ns
    raw.sort(key=_event_time)
    return _merge_and_check(ctx, raw)


def _merge_and_check(ctx: SeqContext, raw: list[Event]) -> list[Event]:
    """Merge and check the sorted events. Their end, the earliest time the repetition may end
    (4 ns after the last event, or the end of the action that ends last), goes to
    ``ctx.events_end``: each event's ``busy_until`` counts once it is complete (merged)."""
    events: list[Event] = []
    last_play: Event | None = None
    last_acq: Event | None = None
    play_until = 0  # the previous pulse plays until then (checked inline: once per event)
    busy_end = 0  # the latest busy_until of the complete events
    prev: Event | None = None
    for event in raw:
        if prev is not None and prev.time == event.time:
            if prev.action is not None and event.action is not None:
                _too_close(ctx, prev, event)
                continue
            prev.merge(event)
            event = prev
        else:
            if prev is not None:
                if event.time - prev.time < MIN_DURATION:
                    _too_close(ctx, prev, event)
                    continue
                if prev.busy_until is not None and prev.busy_until > busy_end:
                    busy_end = prev.busy_until  # prev is complete: nothing merges into it now
            events.append(event)
            prev = event
        action = event.action
        if action is None:
            continue
        if type(action) is Play:
            if event.time < play_until:
                _check_play(ctx, last_play, event)
            last_play = event
            play_until = event.busy_until or 0
        elif type(action) is Acquire or (type(action) is AcquireTtl and action.enable):
            if last_acq is not None:
                _check_acquisition(ctx, last_acq, event)
            last_acq = event
    if prev is not None:
        ctx.events_end = max(prev.time + MIN_DURATION, prev.busy_until or 0, busy_end)
    return events


def _too_close(ctx: SeqContext, prev: Event, event: Event) -> None:
    gap = event.time - prev.time
    ctx.diag.error(
        ErrorCode.OPERATIONS_TOO_CLOSE,
        f"needs the sequencer {gap} ns after operations[{prev.op_index}] on {ctx.name}; "
        f"real-time instructions on one sequencer must be at least {MIN_DURATION} ns apart",
        op_path(event.op_index),
        hint=f"move it to t >= {prev.time + MIN_DURATION} ns (relative to that operation)",
    )


def _check_play(ctx: SeqContext, last: Event | None, event: Event) -> None:
    if last is not None and last.busy_until is not None and event.time < last.busy_until:
        ctx.diag.error(
            ErrorCode.OPERATIONS_OVERLAP,
            f"overlaps operations[{last.op_index}] (which plays until {last.busy_until} ns) on "
            f"{ctx.name}; one sequencer plays one pulse at a time",
            op_path(event.op_index),
            hint="delay it, or put the pulses on different clocks (sequencers)",
        )


def _check_acquisition(ctx: SeqContext, last: Event | None, event: Event) -> None:
    if last is None:
        return
    if last.busy_until is not None and event.time < last.busy_until:
        ctx.diag.error(
            ErrorCode.OPERATIONS_OVERLAP,
            f"acquisition overlaps operations[{last.op_index}] (which ends at "
            f"{last.busy_until} ns) on {ctx.name}",
            op_path(event.op_index),
        )
    elif event.time - last.time < MIN_ACQUISITION_SPACING:
        ctx.diag.error(
            ErrorCode.ACQUISITIONS_TOO_CLOSE,
            f"starts {event.time - last.time} ns after the acquisition "
            f"operations[{last.op_index}] on {ctx.name}; acquisitions must start at least "
            f"{MIN_ACQUISITION_SPACING} ns apart",
            op_path(event.op_index),
            hint=f"move it to t >= {last.time + MIN_ACQUISITION_SPACING} ns",
        )
