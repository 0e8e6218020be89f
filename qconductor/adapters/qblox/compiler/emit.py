"""Q1ASM emission: the IR tree to program text, with every real-time duration in range.

Each real-time instruction's last operand is the time until the next one starts, so the
program's timeline is exactly the IR's. Gaps longer than one instruction can span are filled
with ``wait``s of at most :data:`MAX_WAIT` ns (each at least :data:`MIN_DURATION`).
"""

from __future__ import annotations

from qconductor.adapters.qblox.compiler.ir import Acquire, Block, Loop, Play

MIN_DURATION = 4
MAX_WAIT = 65535
GAIN_FULL_SCALE = 32767
LOOP_REGISTER = "R0"
PREAMBLE_NS = 4  # reset_ph + upd_param at the start of each repetition


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


def gain_immediate(gain: float) -> int:
    return round(gain * GAIN_FULL_SCALE)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.instructions = 0

    def op(self, text: str, label: str | None = None) -> None:
        self.lines.append(f"{label + ':':<12}{text}" if label else f"{'':<12}{text}")
        self.instructions += 1

    def timed(self, text: str, duration: int) -> None:
        """A real-time instruction followed by ``duration`` ns until the next one."""
        first, *rest = split_duration(duration)
        self.op(f"{text} {first}")
        for chunk in rest:
            self.op(f"wait {chunk}")


def emit_program(loop: Loop, *, sync: bool = True) -> tuple[str, int]:
    """Program text and instruction count for one sequencer's repetition loop."""
    w = _Writer()
    if sync:
        w.op("wait_sync 4")
    w.op(f"move {loop.count}, {LOOP_REGISTER}")
    w.op("reset_ph" if loop.reset_phase else "nop", label=loop.label)
    _emit_block(w, loop.body)
    w.op(f"loop {LOOP_REGISTER}, @{loop.label}")
    w.op("stop")
    return "\n".join(w.lines) + "\n", w.instructions


def _emit_block(w: _Writer, block: Block) -> None:
    events = block.events
    first_time = events[0].time if events else block.duration
    # The preamble's upd_param applies reset_ph and spans the time up to the first event.
    w.timed("upd_param", PREAMBLE_NS + first_time)
    gain: float | None = None
    for k, event in enumerate(events):
        next_time = events[k + 1].time if k + 1 < len(events) else block.duration
        gap = next_time - event.time
        if isinstance(event, Play):
            if event.gain != gain:
                g = gain_immediate(event.gain)
                w.op(f"set_awg_gain {g}, {g}")
                gain = event.gain
            w.timed(f"play {event.wave_i}, {event.wave_q},", gap)
        elif isinstance(event, Acquire):
            w.timed(f"acquire {event.acq_index}, {event.bin_index},", gap)
