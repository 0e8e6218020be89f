"""From a sequencer's operations to its ordered events, checking the real-time rules.

Operations are lowered in start order (lowering keeps state: offsets, bins); the events are then
sorted, events at one instant merged (their parameters applied together), and checked:
real-time instructions at least 4 ns apart; one play at a time (a pulse must not start while
the previous one plays); acquisitions must not overlap and must start at least 300 ns apart.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from qconductor.adapters.qblox.compiler.context import LoopFrame, OutOfRegisters, SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import op_path
from qconductor.adapters.qblox.compiler.emit import MAX_WAIT, MIN_DURATION
from qconductor.adapters.qblox.compiler.ir import (
    Acquire,
    AcquireTtl,
    Block,
    Event,
    Latch,
    Loop,
    Nested,
    Play,
    VarWait,
)
from qconductor.adapters.qblox.compiler.loops import Flat, Segment
from qconductor.adapters.qblox.compiler.lowering import lowering_for
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
    lowering = lowering_for(ctx)
    for index, timed in in_order:
        raw.extend(lowering[type(timed.op)](ctx, index, timed))
    _apply_latency(ctx, raw)
    raw.sort(key=_event_time)
    return _merge_and_check(ctx, raw)


def build_tree(
    ctx: SeqContext, flat: Flat, ops: Sequence[tuple[int, TimedOperation]]
) -> list[Event]:
    """The events of the repetition body, with a :class:`Nested` event for every loop that
    holds operations of this sequencer (loops without any are time it waits through)."""
    if not flat.flattened:
        return build_events(ctx, ops)
    by_segment: dict[int, list[tuple[int, TimedOperation]]] = {}
    active: set[int] = set()
    for item in ops:
        seg: int | None = flat.segment_of[item[0]]
        by_segment.setdefault(seg, []).append(item)  # type: ignore[arg-type]
        while seg is not None and seg not in active:
            active.add(seg)
            seg = flat.segments[seg].parent
    try:
        raw = _segment_events(ctx, flat, flat.segments[0], by_segment, active)
    except OutOfRegisters:
        ctx.diag.error(
            ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
            f"{ctx.name} runs out of registers (63) for its loops, sweeps and acquisitions",
            op_path(ops[0][0]),
            hint="sweep fewer quantities on this port and clock, or nest fewer loops",
        )
        return []
    _apply_latency(ctx, raw)
    raw.sort(key=_event_time)
    return _merge_and_check(ctx, raw)


def _segment_events(
    ctx: SeqContext,
    flat: Flat,
    seg: Segment,
    by_segment: dict[int, list[tuple[int, TimedOperation]]],
    active: set[int],
) -> list[Event]:
    """Lower ``seg``'s operations and its active loops in time order (lowering keeps state);
    unsorted raw events, loops as :class:`Nested` events."""
    ops = sorted(by_segment.get(seg.id, []), key=_start_of)
    loops = sorted((flat.segments[c] for c in seg.children if c in active), key=_seg_start)
    raw: list[Event] = []
    if seg.delays:
        for index, time, var in seg.delays:
            found = ctx.swept(var, 1.0, index=index, attr="length")
            assert found is not None  # .loops checked that this loop sweeps it
            reg, sweep = found
            longest = sweep.unit_bounds()[1]
            scratch = ctx.register() if longest > MAX_WAIT else None
            raw.append(Event(time, index, [], VarWait(reg, longest, scratch), time))
    if flat.conditionals:
        raw.extend(_latches(ctx, flat, seg, ops))
    lowering = lowering_for(ctx)
    i = 0
    for child in loops:
        while i < len(ops) and ops[i][1].start < child.start:
            index, timed = ops[i]
            raw.extend(lowering[type(timed.op)](ctx, index, timed))
            i += 1
        raw.append(_nested(ctx, flat, child, by_segment, active))
    for index, timed in ops[i:]:
        raw.extend(lowering[type(timed.op)](ctx, index, timed))
    if flat.cond_of:
        for event in raw:
            info = flat.cond_of.get(event.op_index)
            if info is not None:
                event.cond = 1 << (ctx.trigger_address(info.label) - 1)
    return raw


def _latches(
    ctx: SeqContext, flat: Flat, seg: Segment, ops: list[tuple[int, TimedOperation]]
) -> list[Event]:
    """For every triggering acquisition whose blocks this sequencer plays in: enable the
    latches and reset them when the acquisition ends (so only its trigger counts)."""
    mine = {flat.cond_of[i].reset_at: flat.cond_of[i] for i, _ in ops if i in flat.cond_of}
    events = []
    for start, info in sorted(mine.items()):
        events.append(Event(start, info.index, [], Latch(True)))
        events.append(Event(start + MIN_DURATION, info.index, [], Latch(False)))
    return events


def _seg_start(seg: Segment) -> int:
    return seg.start


def _nested(
    ctx: SeqContext,
    flat: Flat,
    seg: Segment,
    by_segment: dict[int, list[tuple[int, TimedOperation]]],
    active: set[int],
) -> Event:
    frame = LoopFrame(seg, ctx.register())
    ctx.loop_stack.append(frame)
    outer_end = ctx.events_end
    try:
        raw = _segment_events(ctx, flat, seg, by_segment, active)
    finally:
        ctx.loop_stack.pop()
    raw.sort(key=_event_order)
    events = _merge_and_check(ctx, raw)
    if events and 0 < events[0].time < MIN_DURATION:
        _too_close_to_loop(ctx, events[0], f"{events[0].time} ns after its loop iteration starts")
    if ctx.events_end > seg.nominal:
        ctx.diag.error(
            ErrorCode.OPERATIONS_TOO_CLOSE,
            f"a loop iteration on {ctx.name} lasts {seg.nominal} ns, but its last real-time "
            f"instruction needs the sequencer until {ctx.events_end} ns",
            op_path(seg.index),
            hint=f"end the loop's body with {MIN_DURATION} ns to spare (an Idle)",
        )
    _check_wraparound(ctx, seg, events)
    ctx.events_end = outer_end
    loop = Loop(
        label=seg.label,
        count=seg.count,
        body=Block(duration=seg.nominal, events=events),
        setup=frame.setup,
        head=[],
        step=frame.step,
        counter=frame.counter,
    )
    return Event(seg.start, seg.index, [], Nested(loop, seg.total), seg.start + seg.total)


def _check_wraparound(ctx: SeqContext, seg: Segment, events: list[Event]) -> None:
    """Acquisitions of consecutive iterations must be 300 ns apart too."""
    acquisitions = [
        e
        for e in events
        if type(e.action) is Acquire or (type(e.action) is AcquireTtl and e.action.enable)
    ]
    if seg.count < 2 or not acquisitions:
        return
    first, last = acquisitions[0], acquisitions[-1]
    spacing = first.time + seg.nominal - last.time
    if spacing < MIN_ACQUISITION_SPACING:
        ctx.diag.error(
            ErrorCode.ACQUISITIONS_TOO_CLOSE,
            f"starts {spacing} ns after the same loop's previous iteration acquired on "
            f"{ctx.name}; acquisitions must start at least {MIN_ACQUISITION_SPACING} ns apart",
            op_path(first.op_index),
            hint=f"lengthen the loop's body by {MIN_ACQUISITION_SPACING - spacing} ns",
        )


def _event_order(event: Event) -> tuple[int, int]:
    """Time order; a delay before what starts at its instant (which it moves later)."""
    return (event.time, 0 if type(event.action) is VarWait else 1)


def _too_close_to_loop(ctx: SeqContext, event: Event, where: str) -> None:
    ctx.diag.error(
        ErrorCode.OPERATIONS_TOO_CLOSE,
        f"starts {where} on {ctx.name}; the sequencer needs 0 or at least {MIN_DURATION} ns there",
        op_path(event.op_index),
        hint="move it onto that instant or at least 4 ns away",
    )


def _apply_latency(ctx: SeqContext, raw: list[Event]) -> None:
    """Move every event of the port-clock by its (relative) latency correction."""
    latency = ctx.alloc.latency_ns
    if latency:
        for event in raw:
            event.time += latency
            if event.busy_until is not None:
                event.busy_until += latency


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
        if prev is not None and type(prev.action) in _STRETCHING:
            # after a loop or a delay: the next instruction may start at its end, or 4 ns on
            gap = event.time - (prev.busy_until or prev.time)
            if 0 < gap < MIN_DURATION:
                _too_close_to_loop(ctx, event, f"{gap} ns after a loop or delay ends")
                continue
            if prev.busy_until is not None and prev.busy_until > busy_end:
                busy_end = prev.busy_until
            events.append(event)
            prev = event
        elif prev is not None and prev.time == event.time:
            if (prev.action is not None and event.action is not None) or (
                prev.cond != event.cond or type(prev.action) is Latch or type(event.action) is Latch
            ):
                _too_close(ctx, prev, event)
                continue
            prev.merge(event)
            event = prev
        else:
            if prev is not None:
                gap = event.time - prev.time
                if gap < MIN_DURATION or (prev.cond and MIN_DURATION < gap < 2 * MIN_DURATION):
                    _too_close(ctx, prev, event)
                    continue
                if prev.busy_until is not None and prev.busy_until > busy_end:
                    busy_end = prev.busy_until  # prev is complete: nothing merges into it now
            events.append(event)
            prev = event
        action = event.action
        if action is None:
            continue
        if type(action) is VarWait:
            _check_spans(ctx, event, play_until, last_acq)
        elif type(action) is Play:
            if event.time < play_until:
                _check_play(ctx, last_play, event)
            last_play = event
            play_until = event.busy_until or 0
        elif type(action) is Acquire or (type(action) is AcquireTtl and action.enable):
            if last_acq is not None:
                _check_acquisition(ctx, last_acq, event)
            last_acq = event
    if prev is not None:
        own = prev.time if type(prev.action) in _STRETCHING else prev.time + MIN_DURATION
        if prev.cond:  # the condition is switched off, then a wait of 4 ns or more
            own += MIN_DURATION
        ctx.events_end = max(own, prev.busy_until or 0, busy_end)
    return events


_STRETCHING = (Nested, VarWait)


def _check_spans(ctx: SeqContext, delay: Event, play_until: int, last_acq: Event | None) -> None:
    """A delay must not fall inside a pulse or an acquisition window (it would cut it)."""
    acq_until = (last_acq.busy_until or 0) if last_acq is not None else 0
    if play_until > delay.time or acq_until > delay.time:
        ctx.diag.error(
            ErrorCode.OPERATIONS_OVERLAP,
            f"a delay at {delay.time} ns falls inside a pulse or acquisition on {ctx.name} "
            f"(busy until {max(play_until, acq_until)} ns)",
            op_path(delay.op_index),
            hint="place the delay after the pulse or acquisition ends",
        )


def _too_close(ctx: SeqContext, prev: Event, event: Event) -> None:
    gap = event.time - prev.time
    if prev.cond and gap >= MIN_DURATION:
        rule = (
            f"after an instruction of a conditional block the next one starts {MIN_DURATION} "
            f"or at least {2 * MIN_DURATION} ns later"
        )
        earliest = prev.time + 2 * MIN_DURATION
    else:
        rule = f"real-time instructions on one sequencer must be at least {MIN_DURATION} ns apart"
        earliest = prev.time + MIN_DURATION
    ctx.diag.error(
        ErrorCode.OPERATIONS_TOO_CLOSE,
        f"needs the sequencer {gap} ns after {op_path(prev.op_index)} on {ctx.name}; {rule}",
        op_path(event.op_index),
        hint=f"move it to t >= {earliest} ns (relative to that operation)",
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
