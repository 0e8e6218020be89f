"""Read Q1ASM program text into instructions with typed operands and source line numbers.

Syntax accepted (a subset of what the Qblox assembler takes, and all that qconductor emits)::

    [label:] [mnemonic [operand {, operand}]] [# comment]

Operands are decimal immediates (``-42``), registers (``R12``) or label references
(``@start``). Labels may stand alone on a line; they then name the next instruction. Lines are
numbered from 1. Problems are collected as :class:`Diagnostic` with code ``Q1ASM_SYNTAX``; a line
that cannot be read contributes no instruction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from qconductor.protocol.errors import Diagnostic, ErrorCode

from .isa import ISA, OperandKind

_NAME: Final = re.compile(r"[A-Za-z_]\w*", re.ASCII)  # labels and mnemonics
_OPERAND: Final = re.compile(r"R(?P<reg>\d+)|@(?P<label>[A-Za-z_]\w*)|(?P<imm>[+-]?\d+)", re.ASCII)
_HEX: Final = re.compile(r"[+-]?0[xX][0-9a-fA-F]+")
_LOWER_REGISTER: Final = re.compile(r"r\d+")


class Operand(NamedTuple):
    """One operand: an immediate (``I``), a register (``R``) or a label reference (``L``)."""

    kind: OperandKind
    value: int  # the immediate, or the register number; 0 for a label
    text: str  # as written: "-42", "R12", "@start"

    @property
    def label(self) -> str:
        """The label name for a label reference (``start`` for ``@start``), else ""."""
        return self.text[1:] if self.kind == "L" else ""


class Instruction(NamedTuple):
    """One instruction as written, with the labels that name it."""

    line: int
    mnemonic: str
    operands: tuple[Operand, ...]
    labels: tuple[str, ...] = ()


class LabelDef(NamedTuple):
    """A label definition: ``instruction`` is the index of the instruction it names, equal to
    the instruction count when the label stands after the last one."""

    name: str
    line: int
    instruction: int


@dataclass(frozen=True)
class ParsedProgram:
    """What :func:`parse_program` read: unreadable lines appear only in ``diagnostics``."""

    instructions: tuple[Instruction, ...]
    labels: tuple[LabelDef, ...]
    diagnostics: tuple[Diagnostic, ...]  # syntax problems
    line_count: int


class _Problem(NamedTuple):
    message: str
    hint: str | None


class _Line(NamedTuple):
    label: str | None
    mnemonic: str | None
    operands: tuple[Operand, ...]
    error: _Problem | None


_BLANK: Final = _Line(None, None, (), None)


def line_path(line: int) -> str:
    """The diagnostic path of a source line: ``line 12``."""
    return f"line {line}"


def syntax_error(line: int, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code=ErrorCode.Q1ASM_SYNTAX, message=message, path=line_path(line), hint=hint)


def parse_program(text: str) -> ParsedProgram:
    """Split ``text`` into instructions and label definitions, collecting syntax problems."""
    instructions: list[Instruction] = []
    labels: list[LabelDef] = []
    diagnostics: list[Diagnostic] = []
    pending: list[str] = []  # labels waiting for their instruction
    line_memo: dict[str, _Line] = {}  # compiled programs repeat a few lines thousands of times
    operand_memo: dict[str, Operand | _Problem] = {}
    lines = text.split("\n")
    for number, raw in enumerate(lines, start=1):
        parsed = line_memo.get(raw)
        if parsed is None:
            parsed = line_memo[raw] = _parse_line(raw, operand_memo)
        if parsed is _BLANK:
            continue
        if parsed.error is not None:
            diagnostics.append(syntax_error(number, *parsed.error))
            continue
        if parsed.label is not None:
            labels.append(LabelDef(parsed.label, number, len(instructions)))
            pending.append(parsed.label)
        if parsed.mnemonic is not None:
            named = tuple(pending) if pending else ()
            instructions.append(Instruction(number, parsed.mnemonic, parsed.operands, named))
            pending.clear()
    return ParsedProgram(tuple(instructions), tuple(labels), tuple(diagnostics), len(lines))


def _parse_line(raw: str, operand_memo: dict[str, Operand | _Problem]) -> _Line:
    """One source line; ``_BLANK`` when it holds nothing but whitespace and a comment."""
    hash_at = raw.find("#")
    body = (raw[:hash_at] if hash_at >= 0 else raw).strip()
    if not body:
        return _BLANK
    label: str | None = None
    colon = body.find(":")
    if colon >= 0:
        label = body[:colon].rstrip()
        if _NAME.fullmatch(label) is None:
            hint = "a label starts with a letter or '_' and holds letters, digits and '_'"
            return _Line(None, None, (), _Problem(f"{label!r} is not a valid label name", hint))
        body = body[colon + 1 :].lstrip()
        if not body:
            return _Line(label, None, (), None)
    parts = body.split(None, 1)
    mnemonic = parts[0]
    if mnemonic not in ISA and _NAME.fullmatch(mnemonic) is None:
        return _Line(None, None, (), _unreadable_line(body))
    operands: list[Operand] = []
    if len(parts) == 2:
        for piece in parts[1].split(","):
            text = piece.strip()
            operand = operand_memo.get(text)
            if operand is None:
                operand = operand_memo[text] = _parse_operand(text)
            if isinstance(operand, _Problem):
                return _Line(None, None, (), operand)
            operands.append(operand)
    return _Line(label, mnemonic, tuple(operands), None)


def _unreadable_line(body: str) -> _Problem:
    if body[0].isdigit():
        message = f"cannot read {body!r}: a line starts with a label or a mnemonic"
        return _Problem(message, None)
    return _Problem(
        f"cannot read {body!r}",
        "write '[label:] mnemonic operand, operand  # comment'",
    )


def _parse_operand(text: str) -> Operand | _Problem:
    """An operand, or what is wrong when ``text`` is not one."""
    if text.isascii() and text.isdigit():  # the common case, without the regex
        return Operand("I", int(text), text)
    match = _OPERAND.fullmatch(text)
    if match is not None:
        reg, label, imm = match.group("reg", "label", "imm")
        if reg is not None:
            return Operand("R", int(reg), text)
        if label is not None:
            return Operand("L", 0, text)
        return Operand("I", int(imm), text)
    return _operand_error(text)


def _operand_error(text: str) -> _Problem:
    if not text:
        return _Problem("empty operand", "separate operands with single commas, no trailing comma")
    if _HEX.fullmatch(text):
        return _Problem(
            f"immediate {text!r} is not decimal", "write immediates as decimal integers"
        )
    if _LOWER_REGISTER.fullmatch(text):
        return _Problem(
            f"{text!r} is not a register name", f"registers are written R0..R63: R{text[1:]}"
        )
    if " " in text or "\t" in text:
        return _Problem(f"cannot read operand {text!r}", "separate operands with commas")
    return _Problem(
        f"cannot read operand {text!r}",
        "an operand is a decimal immediate, a register R0..R63 or a label @name",
    )
