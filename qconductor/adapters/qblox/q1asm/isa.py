"""The Q1ASM instructions qconductor emits: operand kinds, value ranges and timing roles.

One row per instruction. Operand kinds are ``I`` (immediate), ``R`` (register ``R0``..``R63``)
and ``L`` (label ``@name``). Facts were checked against the Qblox sequencer instruction table
(qblox-instruments docs), q1simulator 1.3.4's parser and renderer, and quantify-scheduler's
Qblox constants; where those sources disagree, the row takes the stricter reading so that a
program we accept is accepted by the instrument too:

* Real-time durations (the last operand of ``upd_param``, ``play``, ``acquire*``, ``wait*``,
  ``set_latch_en``, ``latch_rst`` and the else-duration of ``set_cond``) are 4..65535 ns
  (16-bit field; q1simulator flags ``< 4`` and ``> 65535``).
* ``jlt``/``jge`` compare a register with an *immediate* only; the jump target may be an
  immediate address, a register or a label. ``loop`` decrements its register and jumps while
  it is non-zero.
* ``play``, ``set_awg_gain``, ``set_awg_offs`` and ``acquire_weighed`` take their I|R operands
  all as immediates or all as registers.
* ``wait_trigger`` takes a trigger address and a duration (two operands).

The table is the classic instruction set. qblox-instruments >= 1.2 reports sequencer ISA 2.0,
whose assembler still takes ``jlt``, ``jge``, ``loop`` and ``acquire_weighed`` but as
deprecated instructions it expands, possibly into more than one instruction each; the
instruction count checked here is of the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

OperandKind = Literal["I", "R", "L"]

NUM_REGISTERS: Final = 64
MIN_DURATION_NS: Final = 4
MAX_DURATION_NS: Final = 65535
MAX_INSTRUCTIONS_QCM: Final = 16384  # QCM, QCM-RF
MAX_INSTRUCTIONS_QRM: Final = 12288  # QRM, QRM-RF

_U32_MAX: Final = 2**32 - 1
_S32_MIN: Final = -(2**31)
_MAX_ADDRESS: Final = 2**14 - 1  # instruction memory addresses
_NCO_FREQ_MAX: Final = 2_000_000_000  # 4 steps per Hz, +-500 MHz
_NCO_PHASE_STEPS: Final = 1_000_000_000  # steps per full turn

KIND_WORDS: Final[Mapping[OperandKind, str]] = MappingProxyType(
    {"I": "an immediate", "R": "a register", "L": "a label"}
)


@dataclass(frozen=True, slots=True)
class OperandSpec:
    """One operand position: what it means, which kinds it takes, which immediates fit."""

    meaning: str
    kinds: frozenset[OperandKind]
    low: int = 0
    high: int = _U32_MAX
    duration: bool = False  # a real-time duration in ns
    reads: bool = True  # a register here is read
    writes: bool = False  # a register here is written
    hint: str | None = None  # what a valid value looks like, for range errors

    @property
    def signature(self) -> str:
        return "|".join(k for k in ("I", "R", "L") if k in self.kinds)


@dataclass(frozen=True, slots=True)
class InstructionSpec:
    """One instruction: its operands in order and how it behaves in time and control flow."""

    mnemonic: str
    operands: tuple[OperandSpec, ...]
    real_time: bool  # executed by the real-time pipeline
    same_kind: tuple[int, ...] = ()  # these positions: all immediates or all registers
    falls_through: bool = True  # execution may continue with the next instruction

    @property
    def signature(self) -> str:
        ops = ", ".join(op.signature for op in self.operands)
        return f"{self.mnemonic} {ops}".rstrip()

    @property
    def duration_index(self) -> int | None:
        """Position of the duration operand, if the instruction has one."""
        for index, op in enumerate(self.operands):
            if op.duration:
                return index
        return None


_I: Final[frozenset[OperandKind]] = frozenset({"I"})
_R: Final[frozenset[OperandKind]] = frozenset({"R"})
_IR: Final[frozenset[OperandKind]] = frozenset({"I", "R"})
_IRL: Final[frozenset[OperandKind]] = frozenset({"I", "R", "L"})


def _imm(meaning: str, low: int, high: int, hint: str | None = None) -> OperandSpec:
    return OperandSpec(meaning, _I, low, high, hint=hint)


def _imm_reg(meaning: str, low: int, high: int, hint: str | None = None) -> OperandSpec:
    return OperandSpec(meaning, _IR, low, high, hint=hint)


def _duration(kinds: frozenset[OperandKind] = _I, meaning: str = "duration") -> OperandSpec:
    return OperandSpec(meaning, kinds, MIN_DURATION_NS, MAX_DURATION_NS, duration=True)


_SOURCE: Final = _imm_reg("source value", _S32_MIN, _U32_MAX, "a 32-bit integer")
_LHS: Final = OperandSpec("left operand", _R)
_RHS: Final = _imm_reg("right operand", _S32_MIN, _U32_MAX, "a 32-bit integer")
_DEST: Final = OperandSpec("destination", _R, reads=False, writes=True)
_TARGET: Final = OperandSpec("jump target", _IRL, 0, _MAX_ADDRESS, hint="an instruction address")
_COUNTER: Final = OperandSpec("loop counter", _R, writes=True)
_THRESHOLD: Final = _imm("comparison value", 0, _U32_MAX, "an unsigned 32-bit integer")
_PHASE: Final = _imm_reg("NCO phase", 0, _NCO_PHASE_STEPS - 1, "round(deg / 360 * 1e9)")
_WAVE: Final = _imm_reg("waveform index", 0, 1023, "the index of a waveform in the sequence")
_ACQ: Final = _imm("acquisition index", 0, 31, "the index of an acquisition in the sequence")
_BIN: Final = _imm_reg("bin index", 0, 131071, "a bin below the acquisition's num_bins")
_WEIGHT: Final = _imm_reg("weight index", 0, 31, "the index of a weight in the sequence")
_ENABLE: Final = _imm_reg("enable flag", 0, 1, "0 or 1")


_COMPARED: Final = OperandSpec("compared value", _R)
_MARKERS: Final = _imm_reg("marker bits", 0, 15, "bits 0..3, one per marker output")
_FREQ: Final = _imm_reg(
    "NCO frequency", -_NCO_FREQ_MAX, _NCO_FREQ_MAX, "round(4 * f[Hz]) with |f| <= 500 MHz"
)
_MASK: Final = _imm_reg("trigger address mask", 0, 2**15 - 1, "one bit per address 1..15")
_OPERATOR: Final = _imm_reg("operator", 0, 5, "0 OR, 1 NOR, 2 AND, 3 NAND, 4 XOR, 5 XNOR")
_TRIGGER: Final = _imm_reg("trigger address", 1, 15, "1..15")


def _int16(meaning: str) -> OperandSpec:
    return _imm_reg(meaning, -32768, 32767, "an int16: round(fraction of full scale * 32767)")


def _control(mnemonic: str, *operands: OperandSpec, falls_through: bool = True) -> InstructionSpec:
    return InstructionSpec(mnemonic, operands, real_time=False, falls_through=falls_through)


def _real_time(
    mnemonic: str, *operands: OperandSpec, same_kind: tuple[int, ...] = ()
) -> InstructionSpec:
    return InstructionSpec(mnemonic, operands, real_time=True, same_kind=same_kind)


_CONTROL: Final = (
    _control("stop", falls_through=False),
    _control("nop"),
    _control("jmp", _TARGET, falls_through=False),
    _control("loop", _COUNTER, _TARGET),
    _control("jlt", _COMPARED, _THRESHOLD, _TARGET),
    _control("jge", _COMPARED, _THRESHOLD, _TARGET),
    _control("move", _SOURCE, _DEST),
    _control("not", _SOURCE, _DEST),
    *(_control(m, _LHS, _RHS, _DEST) for m in ("add", "sub", "and", "or", "xor", "asl", "asr")),
)

_PARAMETERS: Final = (  # latched; applied by the next upd_param, play or acquire*
    _real_time("set_mrk", _MARKERS),
    _real_time("set_freq", _FREQ),
    _real_time("reset_ph"),
    _real_time("set_ph", _PHASE),
    _real_time("set_ph_delta", _PHASE),
    _real_time("set_awg_gain", _int16("path 0 gain"), _int16("path 1 gain"), same_kind=(0, 1)),
    _real_time("set_awg_offs", _int16("path 0 offset"), _int16("path 1 offset"), same_kind=(0, 1)),
)

_TIMED: Final = (  # the last operand is the time until the next real-time instruction
    _real_time("upd_param", _duration()),
    _real_time("play", _WAVE, _WAVE, _duration(), same_kind=(0, 1)),
    _real_time("acquire", _ACQ, _BIN, _duration()),
    _real_time("acquire_weighed", _ACQ, _BIN, _WEIGHT, _WEIGHT, _duration(), same_kind=(1, 2, 3)),
    _real_time("acquire_ttl", _ACQ, _BIN, _imm("enable flag", 0, 1, "0 or 1"), _duration()),
    _real_time("wait", _duration(_IR)),
    _real_time("wait_sync", _duration(_IR)),
    _real_time("wait_trigger", _TRIGGER, _duration(_IR)),
    _real_time("set_latch_en", _ENABLE, _duration()),
    _real_time("latch_rst", _duration(_IR)),
    _real_time("set_cond", _ENABLE, _MASK, _OPERATOR, _duration(meaning="else-duration")),
)

ISA: Final[Mapping[str, InstructionSpec]] = MappingProxyType(
    {spec.mnemonic: spec for spec in (*_CONTROL, *_PARAMETERS, *_TIMED)}
)
"""Every instruction qconductor emits, by mnemonic."""
