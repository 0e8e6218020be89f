"""Real-time loops: the schedule's loop tree, flattened for the passes that work per operation.

Every operation gets a flat index (top-level operations keep theirs, loop bodies follow in
order) and the :class:`Segment` it belongs to: the repetition body (segment 0) or one loop's
body. Times stay relative to their segment. Checks made here, each naming the operation:

* nothing else runs while a loop does (a loop is alone on the timeline of its segment);
* a :class:`~qconductor.protocol.schedule.Var` names a variable of an enclosing loop;
* a delay's variable belongs to its innermost loop (so every loop lasts a fixed time) and each
  of its values is 4 … 2^31 ns once rounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.operations import TRIGGER_LATENCY_NS
from qconductor.protocol.schedule import (
    ACQUISITION_TYPES,
    Conditional,
    Delay,
    Idle,
    Linspace,
    Loop,
    Schedule,
    ThresholdedAcquisition,
    TimedOperation,
    Var,
)
from qconductor.protocol.sweeps import FixedPointSweep

MIN_DELAY_NS = 4
MAX_DELAY_NS = (1 << 31) - 1


@dataclass(eq=False)
class Segment:
    """The repetition body (``loop`` None) or one loop's body."""

    id: int
    parent: int | None
    loop: Loop | None
    index: int  # the flat index of the loop operation (-1 for the repetition body)
    start: int  # in the parent's body
    count: int
    nominal: int  # one iteration without its delays
    total: int  # every iteration, delays included
    depth: int  # 0: the repetition body
    children: list[int] = field(default_factory=list)
    delays: list[tuple[int, int, str]] = field(default_factory=list)  # (flat index, time, var)

    @property
    def label(self) -> str:
        return f"L{self.id}"

    @property
    def sweeps(self) -> dict[str, Linspace]:
        return {} if self.loop is None else self.loop.sweeps


@dataclass
class CondInfo:
    """A conditional block: its operations play only when ``label``'s trigger came. The
    latches of its sequencers are reset when the triggering acquisition ends (``reset_at``):
    after every earlier trigger of that sequencer arrived (see ``_triggers_apart``), before
    this one can."""

    index: int
    segment: int
    label: str
    reset_at: int


@dataclass
class Flat:
    ops: list[tuple[int, TimedOperation]]  # (flat index, operation) when ``flattened``
    segment_of: list[int]  # flat index -> segment id
    segments: list[Segment]
    paths: list[str] | None  # None: no loops, flat index = schedule index
    duration: int  # one repetition
    cond_of: dict[int, CondInfo] = field(default_factory=dict)  # flat index -> its block
    conditionals: list[CondInfo] = field(default_factory=list)

    @property
    def flattened(self) -> bool:
        """False when the schedule has neither loops nor conditional blocks (ops as given)."""
        return self.paths is not None

    def enclosing(self, segment: int) -> list[Segment]:
        """The loops around ``segment``, outermost first (the repetition body excluded)."""
        chain: list[Segment] = []
        current: int | None = segment
        while current is not None and current != 0:
            seg = self.segments[current]
            chain.append(seg)
            current = seg.parent
        return chain[::-1]

    def scope(self, segment: int, name: str) -> Segment | None:
        """The loop around ``segment`` that declares variable ``name`` (innermost first)."""
        for seg in reversed(self.enclosing(segment)):
            if name in seg.sweeps:
                return seg
        return None


def flatten(schedule: Schedule, diag: Diagnostics) -> Flat:
    kinds = {type(t.op) for t in schedule.operations}
    if not kinds & {Loop, Delay, Conditional}:  # variables outside loops: see SeqContext
        # the passes take the schedule's operations as they are (and the allocation finds the
        # repetition's duration): nothing to flatten
        return Flat([], [], [Segment(0, None, None, -1, 0, 1, 0, 0, 0)], None, 0)
    flat = Flat([], [], [], [], schedule.duration)
    root = Segment(0, None, None, -1, 0, 1, schedule.duration, schedule.duration, 0)
    flat.segments.append(root)
    # top-level operations keep their schedule index; nested ones are numbered after them
    paths = flat.paths
    assert paths is not None
    paths.extend(f"operations[{i}]" for i in range(len(schedule.operations)))
    flat.segment_of.extend([0] * len(schedule.operations))
    _walk(flat, root, schedule.operations, list(range(len(schedule.operations))), diag)
    return flat


def _walk(
    flat: Flat,
    seg: Segment,
    operations: list[TimedOperation],
    indices: list[int],
    diag: Diagnostics,
) -> None:
    paths = flat.paths
    assert paths is not None
    loops: list[tuple[int, int, int]] = []  # (start, end, flat index) of the loops here
    for timed, index in zip(operations, indices, strict=True):
        op = timed.op
        if isinstance(op, Loop):
            child = Segment(
                id=len(flat.segments),
                parent=seg.id,
                loop=op,
                index=index,
                start=timed.start,
                count=op.iterations,
                nominal=op.body_duration,
                total=op.duration,
                depth=seg.depth + 1,
            )
            flat.segments.append(child)
            seg.children.append(child.id)
            loops.append((timed.start, timed.start + op.duration, index))
            child_indices = []
            for j in range(len(op.body)):
                child_indices.append(len(paths))
                paths.append(f"{paths[index]}.op.body[{j}]")
                flat.segment_of.append(child.id)
            _walk(flat, child, op.body, child_indices, diag)
            continue
        if isinstance(op, Conditional):
            _conditional(flat, seg, timed, index, operations, diag)
            continue
        flat.ops.append((index, timed))
        if isinstance(op, Delay):
            _delay(flat, seg, index, timed, diag)
        else:
            _check_vars(flat, seg, index, op, diag)
    _alone(flat, seg, operations, indices, loops, diag)


def _delay(flat: Flat, seg: Segment, index: int, timed: TimedOperation, diag: Diagnostics) -> None:
    assert isinstance(timed.op, Delay)
    name = timed.op.length.var
    path = f"{_path(flat, index)}.op.length"
    if seg.loop is None or name not in seg.sweeps:
        owner = flat.scope(seg.id, name)
        diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"delays by {name!r}, which "
            + (
                "its innermost loop does not sweep: every loop must last a fixed time"
                if owner is not None
                else "no enclosing loop sweeps"
            ),
            path,
            hint="sweep the delay's variable in the loop whose body holds the delay",
        )
        return
    low, high = FixedPointSweep.of(seg.sweeps[name], 1.0).unit_bounds()
    if low < MIN_DELAY_NS or high > MAX_DELAY_NS:
        diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"delays by {name!r} from {low} to {high} ns; a delay lasts "
            f"{MIN_DELAY_NS} … {MAX_DELAY_NS} ns",
            path,
            hint="sweep the delay over at least 4 ns (add a fixed idle for a shorter offset)",
        )
        return
    seg.delays.append((index, timed.start, name))


_IN_CONDITIONAL_REFUSED = (*ACQUISITION_TYPES, Loop, Conditional, Delay)


def _conditional(
    flat: Flat,
    seg: Segment,
    timed: TimedOperation,
    index: int,
    siblings: list[TimedOperation],
    diag: Diagnostics,
) -> None:
    op = timed.op
    assert isinstance(op, Conditional)
    paths = flat.paths
    assert paths is not None
    trigger = [
        t
        for t in siblings
        if isinstance(t.op, ThresholdedAcquisition)
        and t.op.feedback_trigger_label == op.trigger
        and t.end <= timed.start
    ]
    if not trigger:
        diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"plays on trigger {op.trigger!r}, but no thresholded acquisition with "
            f"feedback_trigger_label {op.trigger!r} ends before it in the same "
            + ("loop body" if seg.loop is not None else "repetition"),
            f"{paths[index]}.op.trigger",
            hint="add a ThresholdedAcquisition(feedback_trigger_label=...) before the block",
        )
        return
    acq = max(trigger, key=lambda t: t.start)
    if not _triggers_apart(flat, seg, acq, siblings, diag, index):
        return
    if timed.start < acq.end + TRIGGER_LATENCY_NS:
        diag.error(
            ErrorCode.OPERATIONS_TOO_CLOSE,
            f"starts {timed.start - acq.end} ns after its triggering acquisition ends; the "
            f"trigger network needs {TRIGGER_LATENCY_NS} ns",
            paths[index],
            hint=f"start it at t >= {acq.end + TRIGGER_LATENCY_NS} ns",
        )
        return
    info = CondInfo(index, seg.id, op.trigger, acq.end)
    flat.conditionals.append(info)
    for j, body in enumerate(op.body):
        flat_index = len(paths)
        paths.append(f"{paths[index]}.op.body[{j}]")
        flat.segment_of.append(seg.id)
        if isinstance(body.op, _IN_CONDITIONAL_REFUSED):
            diag.error(
                ErrorCode.UNSUPPORTED_OPERATION,
                f"a {body.op.kind} in a conditional block: it holds pulses, offsets, markers "
                "and NCO operations",
                f"{paths[flat_index]}.op.kind",
                hint="move it out of the block",
            )
            continue
        if isinstance(body.op, Idle):
            continue
        flat.cond_of[flat_index] = info
        flat.ops.append((flat_index, TimedOperation(start=timed.start + body.start, op=body.op)))
        _check_vars(flat, seg, flat_index, body.op, diag)


def _triggers_apart(
    flat: Flat,
    seg: Segment,
    acq: TimedOperation,
    siblings: list[TimedOperation],
    diag: Diagnostics,
    index: int,
) -> bool:
    """Every acquisition of the feedback acquisition's sequencer sends its result on the
    trigger network (the mapping is a sequencer setting), so the one before it (in this
    repetition or iteration, or the last of the previous one) must end at least
    :data:`TRIGGER_LATENCY_NS` before it does: its trigger then lands before the latches are
    reset, not after."""
    op = acq.op
    assert isinstance(op, ThresholdedAcquisition)
    same = [
        t
        for t in siblings
        if isinstance(t.op, ACQUISITION_TYPES)
        and (t.op.port, t.op.clock) == (op.port, op.clock)
        and t is not acq
    ]
    period = seg.nominal if seg.loop is not None else flat.duration
    ends = [t.end for t in same if t.end <= acq.end] + [t.end - period for t in same]
    latest = max(ends, default=None)
    if latest is None or latest + TRIGGER_LATENCY_NS <= acq.end:
        return True
    paths = flat.paths
    assert paths is not None
    diag.error(
        ErrorCode.OPERATIONS_TOO_CLOSE,
        f"its triggering acquisition ends {acq.end - latest} ns after the previous acquisition "
        f"on {op.port} ({op.clock}) ends; every acquisition of that sequencer goes on the "
        f"trigger network, so they must end at least {TRIGGER_LATENCY_NS} ns apart",
        f"{paths[index]}.op.trigger",
        hint="space the acquisitions of the feedback sequencer, or read out on another clock",
    )
    return False


def _check_vars(flat: Flat, seg: Segment, index: int, op: object, diag: Diagnostics) -> None:
    for name, value in op.__dict__.items():
        if isinstance(value, Var) and flat.scope(seg.id, value.var) is None:
            diag.error(
                ErrorCode.SCHEDULE_INVALID,
                f"{name} refers to sweep variable {value.var!r}, which no enclosing loop sweeps",
                f"{_path(flat, index)}.op.{name}",
                hint="sweep it in a loop around this operation (Schedule.loop(name=linspace(...)))",
            )


def _alone(
    flat: Flat,
    seg: Segment,
    operations: list[TimedOperation],
    indices: list[int],
    loops: list[tuple[int, int, int]],
    diag: Diagnostics,
) -> None:
    """Nothing in ``seg`` may overlap one of its loops (an instant operation at a loop's start
    needs the sequencer then too; one at its end is after it)."""
    if not loops:
        return
    for timed, index in zip(operations, indices, strict=True):
        start, end = timed.start, timed.end
        for lo, hi, loop_index in loops:
            if loop_index == index:
                continue
            if start < hi and max(end, start + 1) > lo:
                diag.error(
                    ErrorCode.OPERATIONS_OVERLAP,
                    f"runs from {start} to {end} ns, while the loop {_path(flat, loop_index)} runs "
                    f"({lo} to {hi} ns); nothing else plays during a loop",
                    _path(flat, index),
                    hint="move it before or after the loop, or into its body",
                )
                break


def _path(flat: Flat, index: int) -> str:
    return flat.paths[index] if flat.paths is not None else f"operations[{index}]"
