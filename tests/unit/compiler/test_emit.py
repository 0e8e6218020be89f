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
from qconductor.adapters.qblox.compiler.ir import Acquire, Block, Loop, Play

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
            Play(time=0, wave_i=0, wave_q=1, gain=0.5, op_index=0, duration=40),
            Play(time=44, wave_i=0, wave_q=1, gain=0.5, op_index=1, duration=40),
            Acquire(time=100_000, acq_index=0, bin_index=3, op_index=2, duration=1000),
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
