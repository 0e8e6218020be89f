"""Q1ASM emission: durations always in range, the timeline preserved exactly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qconductor.adapters.qblox.compiler.emit import (
    MAX_WAIT,
    MIN_DURATION,
    emit_program,
    split_duration,
)
from qconductor.adapters.qblox.compiler.ir import Acquire, Block, Event, Loop, Play, Register

RT = re.compile(r"^\s*(?:\w+:)?\s*(upd_param|play|acquire|wait)\b.*?(\d+)\s*$")


@given(st.integers(MIN_DURATION, 10**7))
def test_split_duration_covers_total_with_legal_chunks(total: int) -> None:
    chunks = split_duration(total)
    assert sum(chunks) == total
    assert all(MIN_DURATION <= c <= MAX_WAIT for c in chunks)
    assert len(chunks) == -(-total // MAX_WAIT) or len(chunks) == -(-total // MAX_WAIT) + 1


def test_split_duration_refuses_below_minimum() -> None:
    with pytest.raises(ValueError, match="minimum 4"):
        split_duration(3)


def _timeline(program: str) -> list[tuple[str, int, int]]:
    """(mnemonic, start, duration) of each real-time instruction in one loop iteration."""
    t = 0
    out = []
    for line in program.splitlines():
        m = RT.match(line)
        if m:
            out.append((m.group(1), t, int(m.group(2))))
            t += int(m.group(2))
    return out


def test_program_places_events_at_their_times() -> None:
    block = Block(
        duration=200_000,
        events=[
            Event(0, 0, action=Play(0, 1, 16384, 16384)),
            Event(44, 1, action=Play(0, 1, 16384, 16384)),
            Event(100_000, 2, action=Acquire(0, 3)),
        ],
    )
    text, count = emit_program(Loop(label="rep", count=100, body=block))
    lines = text.splitlines()
    assert lines[0].split() == ["wait_sync", "4"]
    assert lines[1].split() == ["move", "100,", "R0"]
    assert lines[2].split() == ["rep:", "reset_ph"]
    assert lines[-2].split() == ["loop", "R0,", "@rep"]
    assert lines[-1].split() == ["stop"]
    assert text.count("set_awg_gain") == 1  # unchanged gain is not set again
    starts = {(m, s) for m, s, _ in _timeline(text) if m != "wait"}
    # the 4 ns preamble shifts schedule time 0 to t = 4 in the iteration
    assert ("play", 4) in starts
    assert ("play", 48) in starts
    assert ("acquire", 100_004) in starts
    assert sum(d for _, _, d in _timeline(text)) == 4 + 200_000
    assert count == len(lines)


def test_empty_block_is_one_preamble() -> None:
    text, _ = emit_program(Loop(label="rep", count=1, body=Block(duration=0)))
    assert "upd_param 4" in text


def _flat(text: str) -> list[str]:
    """Instructions without labels, single-spaced."""
    return [" ".join(line.split(":", 1)[-1].split()) for line in text.splitlines()]


def test_parameters_without_action_are_applied_by_upd_param() -> None:
    block = Block(
        duration=2000,
        events=[
            Event(0, 0, params=["set_awg_offs 100, 0"]),
            Event(400, 1, action=Play(0, 1, 10, 10)),
        ],
    )
    flat = _flat(emit_program(Loop(label="rep", count=1, body=block))[0])
    k = flat.index("set_awg_offs 100, 0")
    assert flat[k + 1] == "upd_param 400"  # applies at t=0, lasts until the play


def test_append_bins_advance_and_a_nop_separates_write_from_read() -> None:
    reg = Register(1)
    block = Block(
        duration=2000,
        events=[Event(400, 0, action=Acquire(0, reg)), Event(800, 1, action=Acquire(0, reg))],
    )
    loop = Loop(label="rep", count=2, body=block, setup=[f"move 0, {reg}"])
    flat = _flat(emit_program(loop)[0])
    assert flat.count("add R1, 1, R1") == 2
    first_add = flat.index("add R1, 1, R1")
    assert flat[first_add + 1] == "nop"  # the next acquire reads R1
    assert flat[first_add + 2].startswith("acquire 0, R1,")
    assert flat[0:2] == ["wait_sync 4", "move 0, R1"]


def test_long_gaps_become_a_wait_loop_of_constant_size() -> None:
    def program(gap: int) -> tuple[str, int]:
        block = Block(
            duration=gap + 40,
            events=[
                Event(0, 0, action=Play(0, 1, 10, 10)),
                Event(gap, 1, action=Play(0, 1, 10, 10)),
            ],
        )
        return emit_program(Loop(label="rep", count=1, body=block))

    short_text, _ = program(150_000)  # three waits: unrolled
    assert "R63" not in short_text
    text, count = program(5_000_000_000)  # five seconds: a loop, not 76 000 waits
    _, longer = program(50_000_000_000)
    assert count == longer < 20
    flat = _flat(text)
    move = next(line for line in flat if line.startswith("move") and "R63" in line)
    iterations = int(move.split()[1].rstrip(","))
    waits = [int(line.split()[1]) for line in flat if line.startswith("wait ") and "R" not in line]
    loop_wait = waits[0]  # the wait inside the loop body
    first_play = next(line for line in flat if line.startswith("play"))
    first = int(first_play.split()[-1])
    # the gap is spent exactly: the first play's duration, the loop, the remainder
    assert first + iterations * loop_wait + sum(waits[1:]) == 5_000_000_000
    assert all(4 <= w <= 65535 for w in waits)
