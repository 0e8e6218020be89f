"""Q1ASM emission: the IR tree to program text, with every real-time duration in range.

Each real-time instruction's last operand is the time until the next one starts, so the
program's timeline is exactly the IR's. Gaps longer than one instruction can span are filled
with ``wait``s of at most :data:`MAX_WAIT` ns (each at least :data:`MIN_DURATION`). A register
written by one instruction is never read by the next (a ``nop`` goes between: the sequencer
needs a cycle for the write to land).
"""

from __future__ import annotations

import re

from qconductor.adapters.qblox.compiler.ir import (
    Acquire,
    AcquireTtl,
    Block,
    Event,
    Latch,
    Loop,
    Nested,
    Play,
    Register,
    VarWait,
)

MIN_DURATION = 4
MAX_WAIT = 65535
GAIN_FULL_SCALE = 32767
LOOP_REGISTER = Register(0)
# Gaps longer than MAX_UNROLLED_WAITS waits become a register loop (R63: the registers for
# append-mode bins and weights are allocated upwards from R1 and never reach it).
WAIT_REGISTER = Register(63)
MAX_UNROLLED_WAITS = 3
LOOP_WAIT = 65532
PREAMBLE_NS = 4  # the upd_param that applies the loop head at the start of each repetition
_REGISTER = re.compile(r"\bR\d+\b")
_NOTHING: frozenset[str] = frozenset()
_INDENT = " " * 12


def split_duration(total: int) -> list[int]:
    """Split ``total`` (>= 4) ns into chunks in [4, 65535], as few as possible."""
    if total < MIN_DURATION:
        raise ValueError(f"cannot spend {total} ns in real-time instructions (minimum 4)")
    chunks: list[int] = []
    while total > MAX_WAIT:
        take = MAX_WAIT if total - MAX_WAIT >= MIN_DURATION else total - MIN_DURATION
        chunks.append(take)
        total -= take
    chunks.append(total)
    return chunks


def to_int16(fraction: float) -> int:
    """A fraction of full scale as a gain/offset immediate."""
    value = round(fraction * GAIN_FULL_SCALE)
    if -32768 <= value <= 32767:
        return value
    return 32767 if value > 0 else -32768


class _Writer:
    def __init__(self) -> None:
        # With no label pending and no register just written, an instruction goes into
        # ``lines`` as it is (what the event emitter does directly for plays and acquisitions).
        self.lines: list[str] = []  # one instruction each
        self.written: frozenset[str] | set[str] = _NOTHING  # by the last instruction
        self._wait_loops = 0
        self.pending: str | None = None  # the label of the next instruction
        self.delays = 0

    def op(self, text: str, label: str | None = None, *, writes: str | None = None) -> None:
        if self.pending is not None:
            label, self.pending = self.pending, None
        if not self.written and label is None and writes is None:  # the common case
            self.lines.append(_INDENT + text)
            return
        if self.written:  # only then can this instruction read a register too early
            operands = text.partition(" ")[2].split(",")
            if writes is not None:  # the destination is the last operand; the others are read
                operands = operands[:-1]
            if any(r in self.written for o in operands for r in _REGISTER.findall(o)):
                self._emit("nop", label)
                label = None
        self._emit(text, label)
        self.written = {writes} if writes else _NOTHING

    def _emit(self, text: str, label: str | None) -> None:
        self.lines.append(f"{label + ':':<12}{text}" if label else _INDENT + text)

    def timed(self, text: str, duration: int) -> None:
        """A real-time instruction followed by ``duration`` ns until the next one."""
        if MIN_DURATION <= duration <= MAX_WAIT:  # the common case, without a list
            self.op(f"{text} {duration}")
            return
        first, *rest = split_duration(duration)
        self.op(f"{text} {first}")
        if len(rest) <= MAX_UNROLLED_WAITS:
            for chunk in rest:
                self.op(f"wait {chunk}")
            return
        self._wait_loop(duration - first)

    def _wait_loop(self, total: int) -> None:
        """A long gap in constant program size: ``n`` waits of :data:`LOOP_WAIT` ns in a
        register loop, then the remainder (kept at 4 ns or more)."""
        count, rest = divmod(total, LOOP_WAIT)
        if 0 < rest < MIN_DURATION:
            count, rest = count - 1, rest + LOOP_WAIT
        label = f"wait{self._wait_loops}"
        self._wait_loops += 1
        self.op(f"move {count}, {WAIT_REGISTER}", writes=str(WAIT_REGISTER))
        self.op(f"wait {LOOP_WAIT}", label=label)
        self.op(f"loop {WAIT_REGISTER}, @{label}")
        for chunk in split_duration(rest) if rest else ():
            self.op(f"wait {chunk}")


def emit_program(loop: Loop, *, sync: bool = True) -> tuple[str, int]:
    """Program text and instruction count for one sequencer's repetition loop."""
    w = _Writer()
    if sync:
        w.op("wait_sync 4")
    for line in loop.setup:
        w.op(line, writes=_written_register(line))
    w.op(f"move {loop.count}, {LOOP_REGISTER}", writes=str(LOOP_REGISTER))
    head = loop.head or ["nop"]
    w.op(head[0], label=loop.label)
    for line in head[1:]:
        w.op(line)
    _emit_block(w, loop.body, PREAMBLE_NS)
    _emit_step(w, loop)
    w.op(f"loop {LOOP_REGISTER}, @{loop.label}")
    if loop.teardown:
        for line in loop.teardown:
            w.op(line)
        w.op(f"upd_param {MIN_DURATION}")
    w.op("stop")
    return "\n".join(w.lines) + "\n", len(w.lines)


def _written_register(line: str) -> str | None:
    """The register a setup instruction (``move``/arithmetic) writes: its last operand."""
    found = _REGISTER.findall(line)
    return found[-1] if found else None


def _emit_block(w: _Writer, block: Block, preamble: int | None = None) -> None:
    """The block's events, each real-time instruction lasting until the next event. The
    repetition body starts with the ``upd_param`` that applies the loop head (``preamble``
    ns); a nested loop's body starts with its first event, or a wait until it."""
    events = block.events
    first_time = events[0].time if events else block.duration
    if preamble is not None:
        w.timed("upd_param", preamble + first_time)
    elif first_time:
        w.timed("wait", first_time)
    gains: Play | None = None  # the last play: its gains are set
    next_times = [event.time for event in events[1:]]
    next_times.append(block.duration)  # (one too many when there are no events)
    for event, next_time in zip(events, next_times, strict=False):
        gains = _emit_event(w, event, next_time - event.time, gains)


def _emit_nested(w: _Writer, nested: Nested) -> None:
    """A real-time loop: (re)initialise its registers, then the body ``count`` times."""
    loop = nested.loop
    for line in loop.setup:
        w.op(line, writes=_written_register(line))
    w.op(f"move {loop.count}, {loop.counter}", writes=str(loop.counter))
    w.pending = loop.label
    _emit_block(w, loop.body)
    _emit_step(w, loop)
    w.op(f"loop {loop.counter}, @{loop.label}")


def _emit_step(w: _Writer, loop: Loop) -> None:
    for text, label in loop.step:
        w.op(text, label, writes=_written_register(text) if text.startswith(_ALU) else None)


_ALU = ("add", "sub", "move")


def _emit_var_wait(w: _Writer, delay: VarWait) -> None:
    """``wait R`` for a delay held in a register; beyond one wait's range, chunks of
    :data:`LOOP_WAIT` ns paid out of a scratch copy, then the rest (always 4 ns or more)."""
    if delay.scratch is None:
        w.op(f"wait {delay.register}")
        return
    scratch, label = delay.scratch, f"delay{w.delays}"
    w.delays += 1
    w.op(f"move {delay.register}, {scratch}", writes=str(scratch))
    w.op(f"jlt {scratch}, {MAX_WAIT + 1}, @{label}_end", label=f"{label}")
    w.op(f"wait {LOOP_WAIT // 2}")
    w.op(f"sub {scratch}, {LOOP_WAIT // 2}, {scratch}", writes=str(scratch))
    w.op(f"jmp @{label}")
    w.op(f"wait {scratch}", label=f"{label}_end")


def _emit_event(w: _Writer, event: Event, gap: int, gains: Play | None) -> Play | None:
    if event.cond:
        _emit_conditional(w, event, gap)
        return None  # a skipped instruction drops the gains it latched: set them afresh
    if event.params:
        for line in event.params:
            w.op(line)
    action = event.action
    if type(action) is Play:
        wave_i, wave_q, gain_i, gain_q = action
        set_gain = gains is None or gain_i != gains.gain_i or gain_q != gains.gain_q
        if MIN_DURATION <= gap <= MAX_WAIT and w.pending is None and not w.written:
            # the common case: nothing pending, so the lines go in as they are
            if set_gain:
                w.lines.append(f"{_INDENT}set_awg_gain {gain_i}, {gain_q}")
            w.lines.append(f"{_INDENT}play {wave_i}, {wave_q}, {gap}")
            return action
        if set_gain:
            w.op(f"set_awg_gain {gain_i}, {gain_q}")
        gains = action
        w.timed(f"play {wave_i}, {wave_q},", gap)
    elif type(action) is Acquire:
        acq_index, bin_index, weights = action
        if weights is not None:
            wi, wq = weights
            w.timed(f"acquire_weighed {acq_index}, {bin_index}, {wi}, {wq},", gap)
        elif MIN_DURATION <= gap <= MAX_WAIT and w.pending is None and not w.written:
            w.lines.append(f"{_INDENT}acquire {acq_index}, {bin_index}, {gap}")
        else:
            w.timed(f"acquire {acq_index}, {bin_index},", gap)
        _advance_bin(w, bin_index)
    elif isinstance(action, AcquireTtl):
        w.timed(f"acquire_ttl {action.acq_index}, {action.bin}, {int(action.enable)},", gap)
        if not action.enable:
            _advance_bin(w, action.bin)
    elif type(action) is Nested:
        _emit_nested(w, action)
        if gap > action.duration:
            w.timed("wait", gap - action.duration)
        return None  # the loop set gains of its own
    elif type(action) is Latch:
        w.timed("set_latch_en 1," if action.enable else "latch_rst", gap)
    elif type(action) is VarWait:
        _emit_var_wait(w, action)
        if gap:
            w.timed("wait", gap)
    else:
        w.timed("upd_param", gap)
    return gains


def _emit_conditional(w: _Writer, event: Event, gap: int) -> None:
    """An event of a conditional block: its real-time instruction lasts 4 ns under
    ``set_cond`` (replaced by a 4 ns wait when the condition is false, its latched parameters
    dropped), then the condition is switched off and the rest of the gap waited
    unconditionally."""
    mask = event.cond
    w.op(f"set_cond 1, {mask}, 0, {MIN_DURATION}")
    plain = Event(event.time, event.op_index, event.params, event.action, event.busy_until)
    _emit_event(w, plain, MIN_DURATION, None)
    w.op(f"set_cond 0, {mask}, 0, {MIN_DURATION}")
    if gap > MIN_DURATION:
        w.timed("wait", gap - MIN_DURATION)


def _advance_bin(w: _Writer, bin_index: int | Register) -> None:
    if isinstance(bin_index, Register):
        w.op(f"add {bin_index}, 1, {bin_index}", writes=str(bin_index))
