"""Our Q1ASM reader and validator: valid programs pass clean, each fault gets its code and line."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qconductor.adapters.qblox.q1asm import (
    ISA,
    MAX_INSTRUCTIONS_QCM,
    MAX_INSTRUCTIONS_QRM,
    Instruction,
    Operand,
    assemble_check,
    parse_program,
    validate_program,
)
from qconductor.protocol.errors import ErrorCode, QconductorError

TYPICAL = """\
        wait_sync 4
        move 1024, R0       # repetitions
start:
        reset_ph
        upd_param 4
        set_awg_gain 16384, 16384
        play 0, 1, 20
        acquire 0, 0, 1000
        wait 100
        loop R0, @start
        stop
"""

VALID = {
    "typical": TYPICAL,
    "stop only": "stop",
    "comments and blanks": "# header\n\n   # indented comment\nstop # bye\n",
    "label on the same line": "top: wait 4\njmp @top\n",
    "two labels on one instruction": "a:\nb:\n  nop\n  jmp @a\n",
    "registers": "move 0, R1\nmove 1, R2\nnop\nplay R1, R2, 20\nwait R1\nstop",
    "extremes": (
        "wait 4\nwait 65535\nset_awg_gain -32768, 32767\nset_awg_offs 0, -1\n"
        "set_freq -2000000000\nset_freq 2000000000\nset_ph 999999999\nset_mrk 15\n"
        "acquire 31, 131071, 4\nmove 4294967295, R63\nmove -2147483648, R0\nstop"
    ),
    "nco and markers": "set_freq 40000000\nset_ph_delta 250000000\nset_mrk 3\nupd_param 8\nstop",
    "weighed and ttl acquisitions": (
        "acquire_weighed 0, 5, 0, 1, 1000\nmove 2, R3\nmove 0, R4\nnop\n"
        "acquire_weighed 1, R3, R4, R4, 400\nacquire_ttl 2, 0, 1, 100\n"
        "acquire_ttl 2, 0, 0, 100\nstop"
    ),
    "conditional and triggers": (
        "set_latch_en 1, 4\nlatch_rst 4\nwait_trigger 3, 100\n"
        "set_cond 1, 5, 2, 20\nplay 0, 0, 20\nset_cond 0, 0, 0, 4\nstop"
    ),
    "compare and jump": (
        "move 0, R0\nnop\nnext: add R0, 1, R0\nnop\njlt R0, 10, @next\njge R0, 10, @done\n"
        "done: stop"
    ),
    "tabs": "\tmove\t3,\tR5\n\tstop\t",
}

# (program, [(code, line), ...]) — the complete expected list, in order.
INVALID: dict[str, tuple[str, list[tuple[ErrorCode, int]]]] = {
    "operands without commas": ("play 0 1 20\nstop", [(ErrorCode.Q1ASM_SYNTAX, 1)]),
    "hex immediate": ("stop\nwait 0x10", [(ErrorCode.Q1ASM_SYNTAX, 2)]),
    "lower-case register": ("move 1, r1\nstop", [(ErrorCode.Q1ASM_SYNTAX, 1)]),
    "trailing comma": ("wait 4,\nstop", [(ErrorCode.Q1ASM_SYNTAX, 1)]),
    "label starting with a digit": ("1st: nop\nstop", [(ErrorCode.Q1ASM_SYNTAX, 1)]),
    "unreadable last line": ("nop\nstop,", [(ErrorCode.Q1ASM_SYNTAX, 2)]),
    "only an unreadable line": ("stop,", [(ErrorCode.Q1ASM_SYNTAX, 1)]),
    "line starting with a number": ("12 wait\nstop", [(ErrorCode.Q1ASM_SYNTAX, 1)]),
    "unknown mnemonic": ("plya 0, 1, 20\nstop", [(ErrorCode.Q1ASM_UNKNOWN_INSTRUCTION, 1)]),
    "upper-case mnemonic": ("STOP", [(ErrorCode.Q1ASM_UNKNOWN_INSTRUCTION, 1)]),
    "too few operands": ("play 0, 1\nstop", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "operand on stop": ("stop 1", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "immediate destination": ("move R0, 5\nstop", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "label as duration": ("x: wait @x\nstop", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "register duration for play": ("play 0, 1, R2\nstop", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "register for upd_param": ("upd_param R0\nstop", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "register threshold for jlt": ("a: jlt R0, R1, @a\nstop", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "gain mixes kinds": ("set_awg_gain 100, R1\nstop", [(ErrorCode.Q1ASM_OPERAND, 1)]),
    "gain too large": ("set_awg_gain 32768, 0\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "offset too small": ("set_awg_offs 0, -32769\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "marker bit 4": ("set_mrk 16\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "nco above 500 MHz": ("set_freq 2000000001\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "phase a full turn": ("set_ph 1000000000\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "acquisition index 32": ("acquire 32, 0, 1000\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "waveform index 1024": ("play 1024, 0, 20\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "33-bit move": ("move 4294967296, R0\nstop", [(ErrorCode.Q1ASM_IMMEDIATE_RANGE, 1)]),
    "register R64": ("move 1, R64\nstop", [(ErrorCode.Q1ASM_REGISTER, 1)]),
    "wait 3 ns": ("wait 3\nstop", [(ErrorCode.Q1ASM_DURATION, 1)]),
    "wait 65536 ns": ("wait 65536\nstop", [(ErrorCode.Q1ASM_DURATION, 1)]),
    "play for 2 ns": ("play 0, 1, 2\nstop", [(ErrorCode.Q1ASM_DURATION, 1)]),
    "upd_param 0": ("upd_param 0\nstop", [(ErrorCode.Q1ASM_DURATION, 1)]),
    "short else-duration": ("set_cond 1, 1, 0, 2\nstop", [(ErrorCode.Q1ASM_DURATION, 1)]),
    "undefined label": ("nop\njmp @nowhere", [(ErrorCode.Q1ASM_UNDEFINED_LABEL, 2)]),
    "duplicate label": (
        "a: nop\na: nop\njmp @a",
        [(ErrorCode.Q1ASM_DUPLICATE_LABEL, 2)],
    ),
    "read right after write": (
        "move 5, R1\nadd R1, 1, R2\nstop",
        [(ErrorCode.Q1ASM_REGISTER, 2)],
    ),
    "loop jumps to a read": (
        "move 5, R0\nnop\ntop: move R0, R1\nloop R0, @top\nstop",
        [(ErrorCode.Q1ASM_REGISTER, 3)],
    ),
    "no stop": ("wait_sync 4\nwait 100\n# end", [(ErrorCode.Q1ASM_NO_STOP, 2)]),
    "empty program": ("# nothing\n\n", [(ErrorCode.Q1ASM_NO_STOP, 1)]),
    "jump past the end": ("jmp @end\nend:", [(ErrorCode.Q1ASM_NO_STOP, 1)]),
    "several problems": (
        "wait 2\nplay 0, 1\nmove 1, R99\nstop",
        [
            (ErrorCode.Q1ASM_DURATION, 1),
            (ErrorCode.Q1ASM_OPERAND, 2),
            (ErrorCode.Q1ASM_REGISTER, 3),
        ],
    ),
}


def codes_and_lines(program: str, **kwargs: int) -> list[tuple[ErrorCode, int]]:
    found = validate_program(program, **kwargs)
    return [(d.code, int(d.path.removeprefix("line "))) for d in found]


@pytest.mark.parametrize("program", VALID.values(), ids=VALID.keys())
def test_valid_programs_have_no_diagnostics(program: str) -> None:
    assert validate_program(program, max_instructions=MAX_INSTRUCTIONS_QRM) == []
    assemble_check(program, max_instructions=MAX_INSTRUCTIONS_QRM)


@pytest.mark.parametrize(("program", "expected"), INVALID.values(), ids=INVALID.keys())
def test_invalid_programs_get_exact_codes_and_lines(
    program: str, expected: list[tuple[ErrorCode, int]]
) -> None:
    assert codes_and_lines(program) == expected


def test_diagnostics_read_well() -> None:
    (found,) = validate_program("stop\nwait 2")[:1]
    assert found.path == "line 2"
    assert "4..65535 ns" in found.message
    assert found.hint
    (unknown,) = validate_program("plya 0, 1, 4\nstop")
    assert unknown.hint == "did you mean 'play'?"
    (undefined,) = validate_program("strat: nop\njmp @start")
    assert undefined.hint == "did you mean @strat?"


def test_instruction_limit_counts_instructions_only() -> None:
    body = "# header\n\nstart:\n" + "wait 4\n" * (MAX_INSTRUCTIONS_QRM - 1) + "stop\n"
    assert validate_program(body, max_instructions=MAX_INSTRUCTIONS_QRM) == []
    longer = "nop\n" + body
    assert codes_and_lines(longer, max_instructions=MAX_INSTRUCTIONS_QRM) == [
        (ErrorCode.Q1ASM_TOO_LONG, MAX_INSTRUCTIONS_QRM + 4)  # the first that does not fit
    ]
    assert validate_program(longer, max_instructions=MAX_INSTRUCTIONS_QCM) == []
    assert validate_program(longer) == []  # no limit given


def test_assemble_check_raises_with_every_error() -> None:
    with pytest.raises(QconductorError) as one:
        assemble_check("wait 2\nstop")
    assert one.value.code is ErrorCode.Q1ASM_DURATION
    assert one.value.path == "line 1"
    with pytest.raises(QconductorError) as many:
        assemble_check("wait 2\nfoo\nstop", max_instructions=MAX_INSTRUCTIONS_QCM)
    assert many.value.code is ErrorCode.Q1ASM_SYNTAX  # the umbrella code
    assert [d.code for d in many.value.details] == [
        ErrorCode.Q1ASM_DURATION,
        ErrorCode.Q1ASM_UNKNOWN_INSTRUCTION,
    ]


def test_parse_types_operands_and_keeps_lines() -> None:
    parsed = parse_program("# c\nstart:\nloop: play 0, R1, 20 # x\n jmp @loop\n")
    assert parsed.diagnostics == ()
    assert parsed.instructions == (
        Instruction(
            3,
            "play",
            (Operand("I", 0, "0"), Operand("R", 1, "R1"), Operand("I", 20, "20")),
            ("start", "loop"),
        ),
        Instruction(4, "jmp", (Operand("L", 0, "@loop"),)),
    )
    assert parsed.instructions[1].operands[0].label == "loop"
    assert [(d.name, d.line, d.instruction) for d in parsed.labels] == [
        ("start", 2, 0),
        ("loop", 3, 0),
    ]
    assert parse_program("set_freq -4").instructions[0].operands == (Operand("I", -4, "-4"),)


def test_table_covers_the_instructions_we_emit() -> None:
    control = "stop nop jmp loop jlt jge move not add sub and or xor asl asr"
    real_time = (
        "set_mrk set_freq reset_ph set_ph set_ph_delta set_awg_gain set_awg_offs upd_param "
        "play acquire acquire_weighed acquire_ttl wait wait_sync wait_trigger set_latch_en "
        "latch_rst set_cond"
    )
    assert set(ISA) == set(control.split()) | set(real_time.split())
    assert {m for m, spec in ISA.items() if spec.real_time} == set(real_time.split())
    timed = {m for m, spec in ISA.items() if spec.duration_index is not None}
    assert all(ISA[m].duration_index == len(ISA[m].operands) - 1 for m in timed)
    assert ISA["play"].signature == "play I|R, I|R, I"


# --- property: random valid programs validate cleanly; a bad duration is always caught -------

_DURATION = st.integers(4, 65535)
_INT16 = st.integers(-32768, 32767)
_BODY_LINE = st.one_of(
    _DURATION.map(lambda d: f"wait {d}"),
    _DURATION.map(lambda d: f"upd_param {d}"),
    st.tuples(st.integers(0, 1023), st.integers(0, 1023), _DURATION).map(
        lambda t: "play {}, {}, {}".format(*t)
    ),
    st.tuples(st.integers(0, 31), st.integers(0, 131071), _DURATION).map(
        lambda t: "acquire {},{},{}".format(*t)
    ),
    st.tuples(_INT16, _INT16).map(lambda g: "set_awg_gain {}, {}".format(*g)),
    st.tuples(_INT16, _INT16).map(lambda g: "set_awg_offs  {} , {}".format(*g)),
    st.integers(-2_000_000_000, 2_000_000_000).map(lambda f: f"set_freq {f}"),
    st.integers(0, 999_999_999).map(lambda p: f"set_ph_delta {p}"),
    st.integers(0, 15).map(lambda m: f"set_mrk {m}"),
    st.sampled_from(["reset_ph", "nop", "# a comment", "", "wait_sync 4"]),
)


@st.composite
def valid_programs(draw: st.DrawFn) -> str:
    body = draw(st.lists(_BODY_LINE, min_size=1, max_size=30))
    indent = draw(st.sampled_from(["", "  ", "\t"]))
    reps = draw(st.integers(1, 2**32 - 1))
    lines = ["wait_sync 4", f"move {reps}, R0", "start:", "reset_ph", *body, "loop R0, @start"]
    lines.append("stop")
    return "\n".join(f"{indent}{line}" for line in lines)


@settings(max_examples=200, deadline=None)
@given(valid_programs())
def test_random_valid_programs_validate_cleanly(program: str) -> None:
    assert validate_program(program, max_instructions=MAX_INSTRUCTIONS_QRM) == []


@settings(max_examples=100, deadline=None)
@given(valid_programs(), st.one_of(st.integers(-5, 3), st.integers(65536, 2**31)))
def test_a_bad_wait_is_always_caught(program: str, duration: int) -> None:
    lines = program.split("\n")
    lines.insert(3, f"wait {duration}")  # right after "start:"
    assert codes_and_lines("\n".join(lines)) == [(ErrorCode.Q1ASM_DURATION, 4)]


def test_twelve_thousand_instructions_validate_quickly() -> None:
    lines = ["wait_sync 4", "move 100, R0", "start:"]
    for i in range(1500):
        lines += [
            "reset_ph",
            "upd_param 4",
            f"set_awg_gain {i % 30000}, 16384",
            "play 0, 1, 20",
            f"acquire 0, {i}, 1000",
            f"wait {100 + i % 50}",
            "set_mrk 3",
            "upd_param 8",
        ]
    program = "\n".join([*lines, "loop R0, @start", "stop"])
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        found = validate_program(program, max_instructions=MAX_INSTRUCTIONS_QCM)
        best = min(best, time.perf_counter() - start)
    assert found == []
    assert best < 0.050, f"validating 12004 instructions took {best * 1e3:.1f} ms"
