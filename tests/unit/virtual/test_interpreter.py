"""The event-level Q1ASM interpreter: timing, latching, NCO, registers, conditionals, errors,
and repetition compression (same events as running every iteration, at the cost of one)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from qconductor.adapters.virtual.interpreter import (
    FLAG_ACQ_BIN_INDEX,
    FLAG_ACQ_INDEX,
    FLAG_FORCED_STOP,
    FLAG_ILLEGAL,
    FLAG_WAIT_LONG,
    FLAG_WAIT_SHORT,
    interpret,
    interpret_sequencer,
)
from qconductor.adapters.virtual.trace import Event, Repeat, SequencerTrace
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "expected"
WAVES = {"a": {"data": [0.5] * 20, "index": 0}, "b": {"data": [0.0] * 20, "index": 1}}


def run(program: str, bins: int = 4, **kw: Any) -> SequencerTrace:
    sequence = {
        "waveforms": WAVES,
        "weights": {"w": {"data": [1.0] * 16, "index": 0}},
        "acquisitions": {"m": {"num_bins": bins, "index": 0}},
        "program": program,
    }
    return interpret(sequence, path="clusters[c].modules[2].sequencers[0]", **kw)


def test_timing_from_the_end_of_wait_sync() -> None:
    trace = run("wait 8\nwait_sync 4\nupd_param 12\nplay 0, 1, 20\nacquire 0, 1, 300\nstop")
    events = trace.events()
    assert [(e.time, e.kind, e.duration) for e in events] == [
        (0, "upd_param", 12),
        (12, "play", 20),
        (32, "acquire", 300),
    ]
    assert events[1].waves == (0, 1)
    assert events[1].wave_data is not None
    assert events[1].wave_data[0][0] == 0.5
    assert (events[2].acq_index, events[2].bin) == (0, 1)
    assert trace.end_time == 332


def test_parameters_take_effect_at_the_next_update() -> None:
    program = """
        set_awg_gain 16384, -8192
        set_mrk 3
        wait 100
        play 0, 1, 40
        set_awg_offs 3277, 0
        upd_param 4
        play 0, 1, 4
        stop"""
    first, offs, second = run(program).events()
    assert first.time == 100
    assert first.gain == (0.5, -0.25)
    assert first.markers == 3
    assert first.changes == {"gain", "markers"}
    assert first.offset == (0.0, 0.0)
    assert offs.kind == "upd_param"
    assert offs.changes == {"offset"}
    assert offs.offset == (3277 / 32768, 0.0)
    assert second.changes == frozenset()
    assert second.gain == (0.5, -0.25)


def test_nco_phase_and_frequency_bookkeeping() -> None:
    program = """
        wait_sync 4
        set_freq 40000000
        reset_ph
        upd_param 100
        set_ph_delta 250000000
        upd_param 100
        set_freq 80000000
        upd_param 50
        set_ph 500000000
        upd_param 10
        reset_ph
        upd_param 4
        stop"""
    reset, delta, freq, offs, again = run(program).events()
    assert reset.nco_freq == 10e6
    assert reset.nco_phase == 0.0
    turn = 2 * math.pi
    # 100 ns at 10 MHz = 1 turn, then +1/4 turn
    assert delta.nco_phase == pytest.approx(turn * 0.25)
    # 100 ns more at 10 MHz (continuous), then 20 MHz
    assert freq.nco_freq == 20e6
    assert freq.nco_phase == pytest.approx(turn * 0.25)
    assert offs.nco_phase == pytest.approx(turn * ((0.25 + 1.0 + 0.5) % 1))
    assert again.nco_phase == 0.0
    assert "reset_ph" in again.changes


def test_nco_phase_offset_setting_and_initial_frequency() -> None:
    (event,) = run("reset_ph\nupd_param 25\nplay 0, 1, 4\nstop", nco_freq_hz=10e6).events()[1:]
    assert event.nco_phase == pytest.approx(2 * math.pi * 0.25)
    (first,) = run("upd_param 4\nstop", nco_phase_offs_deg=90).events()
    assert first.nco_phase == pytest.approx(math.pi / 2)


def test_registers_wrap_and_jumps() -> None:
    program = """
        move 0, R1
        sub R1, 1, R2      # 0xFFFFFFFF
        add R2, 3, R3      # wraps to 2
        asl R3, 1, R4      # 4
        asr R2, 4, R5      # arithmetic: still 0xFFFFFFFF
        not R5, R6         # 0
        xor R4, 7, R7      # 3
        and R7, 1, R8      # 1
        or R8, 2, R9       # 3
        acquire 0, R3, 4
        acquire 0, R6, 4
        acquire 0, R9, 4
        move 0, R10
    up: add R10, 1, R10
        jlt R10, 3, @up
        jge R10, 3, @done
        acquire 0, 0, 4
    done: acquire 0, R10, 4
        stop"""
    assert [e.bin for e in run(program).events()] == [2, 0, 3, 3]


class FakeTriggers:
    def __init__(self, raised: Collection[int]) -> None:
        self.raised = raised
        self.windows: list[tuple[int, int]] = []

    def __call__(self, start: int, stop: int) -> Collection[int]:
        self.windows.append((start, stop))
        return self.raised


CONDITIONAL = """
        wait_sync 4
        latch_rst 4
        set_latch_en 1, 400
        set_latch_en 0, 4
        set_cond 1, 1, 0, 20
        set_awg_gain 16384, 16384
        play 0, 1, 100
        set_cond 1, 1, 1, 20
        play 0, 1, 100
        set_cond 0, 0, 0, 4
        upd_param 4
        stop"""


def test_conditional_play_with_a_trigger() -> None:
    triggers = FakeTriggers({1})
    trace = run(CONDITIONAL, triggers=triggers)
    assert triggers.windows == [(4, 404)]
    assert [(e.time, e.kind) for e in trace.events()] == [(408, "play"), (528, "upd_param")]


def test_conditional_else_branch_without_triggers() -> None:
    events = run(CONDITIONAL).events()  # the default source raises nothing
    assert [(e.time, e.kind) for e in events] == [(428, "play"), (528, "upd_param")]
    assert events[0].gain == (1.0, 1.0)  # the else branch dropped the latched gain


@pytest.mark.parametrize(
    ("program", "flag", "line"),
    [
        ("upd_param 4\nfoo 1\nstop", FLAG_ILLEGAL, 2),
        ("wait 3\nstop", FLAG_WAIT_SHORT, 1),
        ("move 2, R1\nwait R1\nstop", FLAG_WAIT_SHORT, 2),
        ("move 70000, R1\nwait R1\nstop", FLAG_WAIT_LONG, 2),
        ("acquire 0, 4, 4\nstop", FLAG_ACQ_BIN_INDEX, 1),
        ("acquire 3, 0, 4\nstop", FLAG_ACQ_INDEX, 1),
        ("play 0, 7, 4\nstop", "AWG WAVE PLAYBACK INDEX INVALID PATH 1", 1),
        ("acquire_weighed 0, 0, 2, 0, 4\nstop", "ACQ WEIGHT PLAYBACK INDEX INVALID PATH 0", 1),
        ("upd_param 4\nwait 4", FLAG_ILLEGAL, 2),
        ("l: jmp @l", FLAG_FORCED_STOP, 1),
        ("jmp @nowhere\nstop", FLAG_ILLEGAL, 1),
    ],
)
def test_hardware_errors_carry_the_flag_and_line(program: str, flag: str, line: int) -> None:
    with pytest.raises(QconductorError) as caught:
        run(program, max_instructions=1000)
    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
    assert caught.value.message.startswith(flag)
    assert caught.value.path == f"clusters[c].modules[2].sequencers[0].program[line {line}]"


def test_a_bin_overflow_in_a_folded_iteration_is_still_an_error() -> None:
    program = "move 0, R1\nmove 5, R0\nl: acquire 0, R1, 400\nadd R1, 1, R1\nloop R0, @l\nstop"
    with pytest.raises(QconductorError, match=FLAG_ACQ_BIN_INDEX):
        run(program, bins=4)
    for compress in (True, False):
        assert [e.bin for e in run(program, bins=5, compress=compress).events()] == [0, 1, 2, 3, 4]


def rabi(points: int = 100, repetitions: int = 1024) -> str:
    body = []
    for k in range(points):
        body += [f"set_awg_gain {k * 300}, 0", "play 0, 1, 100", "acquire 0, R1, 300"]
        body += ["add R1, 1, R1"]
    lines = ["wait_sync 4", "move 0, R1", f"move {repetitions}, R0", "rep: reset_ph"]
    lines += ["upd_param 4", *body, "wait 1000", "loop R0, @rep", "stop"]
    return "\n".join(lines)


def test_a_1024_repetition_loop_costs_about_one_iteration() -> None:
    program = rabi(points=75)
    trace = run(program, bins=75 * 1024)
    body = 2 + 4 * 75 + 2  # reset_ph .. loop
    assert trace.instructions < 2 * body + 10
    assert isinstance(trace.items[-1], Repeat)
    assert trace.items[-1].count == 1022
    assert trace.items[-1].bin_advance == {0: 75}
    assert trace.event_count == 1024 * (1 + 2 * 75)
    full = run(program, bins=75 * 1024, compress=False)
    assert full.instructions > 1000 * body
    assert_same(trace, full)


def test_no_folding_when_the_body_reads_a_changing_register() -> None:
    program = "move 4, R2\nmove 3, R0\nl: wait R2\nadd R2, 4, R2\nupd_param 4\nloop R0, @l\nstop"
    trace = run(program)
    assert not any(isinstance(i, Repeat) for i in trace.items)
    assert [e.time for e in trace.events()] == [4, 16, 32]


def test_nested_loops_fold_inside_and_out() -> None:
    program = """
        move 10, R0
    o:  move 20, R2
    i:  play 0, 1, 40
        loop R2, @i
        wait 100
        loop R0, @o
        stop"""
    trace = run(program)
    assert trace.instructions < 60
    assert_same(trace, run(program, compress=False))


def assert_same(folded: SequencerTrace, full: SequencerTrace) -> None:
    assert folded.end_time == full.end_time
    assert all(isinstance(i, Event) for i in full.items)
    a, b = folded.events(), full.events()
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.time, x.kind, x.bin, x.gain, x.offset, x.markers, x.waves, x.changes) == (
            y.time,
            y.kind,
            y.bin,
            y.gain,
            y.offset,
            y.markers,
            y.waves,
            y.changes,
        )
        assert x.nco_freq == y.nco_freq
        assert x.nco_phase == pytest.approx(y.nco_phase, abs=1e-9)


def golden_jobs() -> list[tuple[str, CompiledJob]]:
    jobs = []
    for path in sorted(GOLDEN.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for module in data["clusters"][0]["modules"]:
            for seq in module["sequencers"]:
                if seq["sequence"] is not None:
                    seq["sequence"]["program"] = "\n".join(seq["sequence"]["program"])
        jobs.append((path.stem, CompiledJob.model_validate(data)))
    return jobs


@pytest.mark.parametrize(
    ("name", "job"), golden_jobs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_golden_programs_fold_to_the_same_events(name: str, job: CompiledJob) -> None:
    for module in job.clusters[0].modules:
        for seq in module.sequencers:
            if not seq.used:
                continue
            folded = interpret_sequencer(seq, f"modules[{module.slot}].sequencers[{seq.index}]")
            if folded.event_count > 50_000:  # too slow to unroll here: check the folding
                # one repetition is interpreted (with its inner loops), the others folded
                per_repetition = folded.event_count // job.repetitions
                assert folded.instructions < 20 * per_repetition + 100, name
                assert folded.event_count % job.repetitions == 0
                continue
            assert_same(folded, interpret_sequencer(seq, "s", compress=False))
