"""Check a Q1ASM program before any instrument sees it, collecting every problem by line.

Checks, each with its own code: syntax, unknown mnemonics, operand count and kind, register
range, immediate ranges, real-time durations (4..65535 ns), undefined and duplicate labels,
a register read by the instruction right after the one that writes it (the sequencer needs a
cycle, ``nop``, in between), execution running past the last instruction, and the instruction
count against the sequencer's memory.

Running past the end is an error, not a warning: the sequencer then executes whatever is in
its instruction memory, which stops it with an illegal-instruction error and no data (and
q1simulator refuses it the same way); the Qblox docs require every program to end in ``stop``.

Per-instruction results depend only on the mnemonic and operands, so each distinct line is
checked once per program: compiled programs repeat a few lines thousands of times.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import Final, NamedTuple

from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError

from .isa import ISA, KIND_WORDS, MAX_DURATION_NS, MIN_DURATION_NS, NUM_REGISTERS, OperandSpec
from .isa import InstructionSpec as Spec
from .parse import Instruction, LabelDef, Operand, line_path, parse_program

_Problem = tuple[ErrorCode, str, str | None]  # code, message, hint
_Refs = dict[int, tuple[str, ...]]  # instruction index -> labels it jumps to
_NONE: Final[frozenset[int]] = frozenset()
_SPECS: Final[dict[str, Spec]] = dict(ISA)  # a plain dict: faster lookups than the proxy
_LABEL_TAKERS: Final = frozenset(
    name for name, spec in ISA.items() if any("L" in op.kinds for op in spec.operands)
)


class _Facts(NamedTuple):
    """What one instruction is, independent of where it stands."""

    problems: tuple[_Problem, ...]
    reads: frozenset[int]  # registers read
    writes: frozenset[int]  # registers written


def validate_program(text: str, *, max_instructions: int | None = None) -> list[Diagnostic]:
    """Every problem in the Q1ASM program ``text``, in source order; empty when it is valid.

    ``max_instructions`` is the sequencer's instruction memory (QCM 16384, QRM 12288); only
    instructions count, not labels, comments or blank lines.
    """
    parsed = parse_program(text)
    instructions = parsed.instructions
    facts = _all_facts(instructions)
    labels = _first_definitions(parsed.labels)
    refs = _label_references(instructions)
    found = list(parsed.diagnostics)
    found += _check_instructions(instructions, facts)
    found += _check_duplicate_labels(parsed.labels, labels)
    found += _check_undefined_labels(instructions, refs, labels)
    found += _check_register_hazards(instructions, facts, refs, labels)
    last_unreadable = max(map(_line_number, parsed.diagnostics), default=0)
    found += _check_end(instructions, refs, labels, last_unreadable)
    found += _check_length(instructions, max_instructions)
    return sorted(found, key=_line_number)


def assemble_check(text: str, *, max_instructions: int | None = None) -> None:
    """Raise :class:`QconductorError` carrying every error when ``text`` would not assemble."""
    diagnostics = validate_program(text, max_instructions=max_instructions)
    if any(d.severity == "error" for d in diagnostics):
        raise QconductorError.from_diagnostics(ErrorCode.Q1ASM_SYNTAX, "Q1ASM program", diagnostics)


def _line_number(diagnostic: Diagnostic) -> int:
    return int(diagnostic.path.removeprefix("line "))


def _diagnostic(line: int, code: ErrorCode, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code=code, message=message, path=line_path(line), hint=hint)


def _first_definitions(labels: Sequence[LabelDef]) -> dict[str, LabelDef]:
    table: dict[str, LabelDef] = {}
    for label in labels:
        table.setdefault(label.name, label)
    return table


def _label_references(instructions: Sequence[Instruction]) -> _Refs:
    """Labels named where a label is allowed, by instruction index."""
    refs: _Refs = {}
    for index, ins in enumerate(instructions):
        if ins.mnemonic not in _LABEL_TAKERS:
            continue
        spec = ISA[ins.mnemonic]
        if len(spec.operands) != len(ins.operands):
            continue
        names = tuple(
            op.label
            for op, op_spec in zip(ins.operands, spec.operands, strict=True)
            if op.kind == "L" and "L" in op_spec.kinds
        )
        if names:
            refs[index] = names
    return refs


# --- per instruction -------------------------------------------------------------------------


def _check_instructions(
    instructions: Sequence[Instruction], facts: Sequence[_Facts]
) -> Iterator[Diagnostic]:
    for ins, fact in zip(instructions, facts, strict=True):
        for code, message, hint in fact.problems:
            yield _diagnostic(ins.line, code, message, hint)


def _all_facts(instructions: Sequence[Instruction]) -> list[_Facts]:
    """Facts per instruction, each distinct line checked once.

    Identical source lines share one operands tuple (see ``parse_program``), so the memo key
    is the tuple's identity: cheap to hash, and unique while ``instructions`` keeps them alive.
    """
    memo: dict[tuple[str, int], _Facts] = {}
    facts: list[_Facts] = []
    for ins in instructions:
        key = (ins.mnemonic, id(ins.operands))
        fact = memo.get(key)
        if fact is None:
            fact = memo[key] = _instruction_facts(ins.mnemonic, ins.operands)
        facts.append(fact)
    return facts


def _instruction_facts(mnemonic: str, operands: tuple[Operand, ...]) -> _Facts:
    spec = _SPECS.get(mnemonic)
    if spec is None:
        return _Facts((_unknown_mnemonic(mnemonic),), _NONE, _NONE)
    if len(operands) != len(spec.operands):
        wanted = len(spec.operands)
        message = f"{mnemonic} takes {wanted} operand{'s' * (wanted != 1)}, not {len(operands)}"
        count: _Problem = (ErrorCode.Q1ASM_OPERAND, message, _signature_hint(spec))
        return _Facts((count,), _NONE, _NONE)
    fits, uses_registers = _fast_check(spec, operands)
    problems = () if fits else _operand_problems(spec, operands)
    if not uses_registers:
        return _Facts(problems, _NONE, _NONE)
    registers = [
        (op.value, op_spec)
        for op, op_spec in zip(operands, spec.operands, strict=True)
        if op.kind == "R" and "R" in op_spec.kinds and op.value < NUM_REGISTERS
    ]
    reads = frozenset(number for number, op_spec in registers if op_spec.reads)
    writes = frozenset(number for number, op_spec in registers if op_spec.writes)
    return _Facts(problems, reads, writes)


def _fast_check(spec: Spec, operands: tuple[Operand, ...]) -> tuple[bool, bool]:
    """(every operand of an allowed kind and in range, some operand is a register)."""
    fits = True
    registers = False
    for op, op_spec in zip(operands, spec.operands):  # noqa: B905 (lengths checked)
        kind = op.kind
        if kind not in op_spec.kinds:
            fits = False
        elif kind == "I":
            fits = fits and op_spec.low <= op.value <= op_spec.high
        elif kind == "R":
            registers = True
            fits = fits and op.value < NUM_REGISTERS
    if fits and spec.same_kind:
        fits = len({operands[i].kind for i in spec.same_kind}) == 1
    return fits, registers


def _operand_problems(spec: Spec, operands: tuple[Operand, ...]) -> tuple[_Problem, ...]:
    problems = [
        problem
        for position, (op, op_spec) in enumerate(zip(operands, spec.operands, strict=True))
        if (problem := _operand_problem(spec, position, op, op_spec)) is not None
    ]
    if (mixed := _mixed_kinds(spec, operands)) is not None:
        problems.append(mixed)
    return tuple(problems)


def _unknown_mnemonic(mnemonic: str) -> _Problem:
    close = difflib.get_close_matches(mnemonic.lower(), ISA.keys(), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "see the Q1ASM instruction table"
    message = f"{mnemonic!r} is not an instruction this validator knows"
    return (ErrorCode.Q1ASM_UNKNOWN_INSTRUCTION, message, hint)


def _signature_hint(spec: Spec) -> str:
    return f"{spec.signature} (I immediate, R register, L label)"


def _operand_problem(
    spec: Spec, position: int, op: Operand, op_spec: OperandSpec
) -> _Problem | None:
    where = f"operand {position + 1} of {spec.mnemonic} ({op_spec.meaning})"
    if op.kind not in op_spec.kinds:
        allowed = " or ".join(KIND_WORDS[k] for k in ("I", "R", "L") if k in op_spec.kinds)
        message = f"{where} must be {allowed}, not {KIND_WORDS[op.kind]} ({op.text})"
        return (ErrorCode.Q1ASM_OPERAND, message, _signature_hint(spec))
    if op.kind == "R" and op.value >= NUM_REGISTERS:
        message = f"{op.text} does not exist: a sequencer has registers R0..R{NUM_REGISTERS - 1}"
        return (ErrorCode.Q1ASM_REGISTER, message, None)
    if op.kind == "I":
        if op_spec.duration:
            return _duration_problem(spec, op.value, op_spec)
        if not op_spec.low <= op.value <= op_spec.high:
            message = f"{where} is {op.value}, outside {op_spec.low}..{op_spec.high}"
            return (ErrorCode.Q1ASM_IMMEDIATE_RANGE, message, op_spec.hint)
    return None


def _duration_problem(spec: Spec, value: int, op_spec: OperandSpec) -> _Problem | None:
    if MIN_DURATION_NS <= value <= MAX_DURATION_NS:
        return None
    message = (
        f"{spec.mnemonic} {op_spec.meaning} {value} ns is outside "
        f"{MIN_DURATION_NS}..{MAX_DURATION_NS} ns"
    )
    if value < MIN_DURATION_NS:
        hint = "a real-time instruction lasts at least 4 ns; merge it with its neighbour"
    else:
        hint = "split it over several instructions, or hold the time in a register"
    return (ErrorCode.Q1ASM_DURATION, message, hint)


def _mixed_kinds(spec: Spec, operands: tuple[Operand, ...]) -> _Problem | None:
    kinds = {operands[i].kind for i in spec.same_kind}
    if len(kinds) < 2 or not kinds <= {"I", "R"}:
        return None
    positions = ", ".join(str(i + 1) for i in spec.same_kind)
    message = f"{spec.mnemonic} mixes immediates and registers in operands {positions}"
    return (ErrorCode.Q1ASM_OPERAND, message, "give them all as immediates or all as registers")


# --- labels ----------------------------------------------------------------------------------


def _check_duplicate_labels(
    labels: Sequence[LabelDef], first: dict[str, LabelDef]
) -> Iterator[Diagnostic]:
    for label in labels:
        original = first[label.name]
        if label is not original:
            message = f"label {label.name!r} is defined again (first at line {original.line})"
            hint = "give each label a unique name"
            yield _diagnostic(label.line, ErrorCode.Q1ASM_DUPLICATE_LABEL, message, hint)


def _check_undefined_labels(
    instructions: Sequence[Instruction], refs: _Refs, labels: dict[str, LabelDef]
) -> Iterator[Diagnostic]:
    for index, names in refs.items():
        ins = instructions[index]
        for name in names:
            if name not in labels:
                close = difflib.get_close_matches(name, labels.keys(), n=1)
                hint = f"did you mean @{close[0]}?" if close else "define it as 'name:' on a line"
                message = f"{ins.mnemonic} refers to label @{name}, which is not defined"
                yield _diagnostic(ins.line, ErrorCode.Q1ASM_UNDEFINED_LABEL, message, hint)


# --- control flow and registers --------------------------------------------------------------


def _check_register_hazards(
    instructions: Sequence[Instruction],
    facts: Sequence[_Facts],
    refs: _Refs,
    labels: dict[str, LabelDef],
) -> Iterator[Diagnostic]:
    for index, fact in enumerate(facts):
        if not fact.writes:
            continue
        for successor in _successors(index, instructions, refs, labels):
            clash = fact.writes & facts[successor].reads
            if clash:
                yield _hazard(instructions[index], instructions[successor], min(clash))


def _successors(
    index: int, instructions: Sequence[Instruction], refs: _Refs, labels: dict[str, LabelDef]
) -> set[int]:
    """Where execution may go after instruction ``index``."""
    count = len(instructions)
    found = {labels[n].instruction for n in refs.get(index, ()) if n in labels}
    spec = ISA.get(instructions[index].mnemonic)
    if spec is None or spec.falls_through:
        found.add(index + 1)
    return {i for i in found if i < count}


def _hazard(writer: Instruction, reader: Instruction, register: int) -> Diagnostic:
    message = (
        f"{reader.mnemonic} reads R{register} right after {writer.mnemonic} "
        f"(line {writer.line}) writes it; the new value is not ready yet"
    )
    hint = "insert 'nop' between them"
    return _diagnostic(reader.line, ErrorCode.Q1ASM_REGISTER, message, hint)


def _check_end(
    instructions: Sequence[Instruction],
    refs: _Refs,
    labels: dict[str, LabelDef],
    last_unreadable: int,
) -> Iterator[Diagnostic]:
    """Execution must not run past the last instruction. An unreadable line after the last
    instruction may have been its ``stop``: then the syntax error alone is reported."""
    hint = "end the program with 'stop'"
    ends_unreadable = last_unreadable > (instructions[-1].line if instructions else 0)
    if not instructions:
        if not ends_unreadable:
            message = "the program has no instructions; it must at least 'stop'"
            yield _diagnostic(1, ErrorCode.Q1ASM_NO_STOP, message, hint)
        return
    last = instructions[-1]
    spec = ISA.get(last.mnemonic)
    if spec is not None and spec.falls_through and not ends_unreadable:
        message = (
            f"execution can run past the last instruction ({last.mnemonic}); the sequencer "
            "would then stop with an illegal-instruction error"
        )
        yield _diagnostic(last.line, ErrorCode.Q1ASM_NO_STOP, message, hint)
    for index, names in refs.items():
        for name in names:
            if name in labels and labels[name].instruction >= len(instructions):
                ins = instructions[index]
                message = f"{ins.mnemonic} jumps to @{name}, which is past the last instruction"
                yield _diagnostic(ins.line, ErrorCode.Q1ASM_NO_STOP, message, "put 'stop' after it")


def _check_length(
    instructions: Sequence[Instruction], max_instructions: int | None
) -> Iterator[Diagnostic]:
    if max_instructions is None or len(instructions) <= max_instructions:
        return
    excess = len(instructions) - max_instructions
    message = (
        f"the program has {len(instructions)} instructions, {excess} more than the "
        f"{max_instructions} the sequencer holds; the first that does not fit is here"
    )
    hint = "shorten it with loops and registers, or split the schedule"
    yield _diagnostic(instructions[max_instructions].line, ErrorCode.Q1ASM_TOO_LONG, message, hint)
