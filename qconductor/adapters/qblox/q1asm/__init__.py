"""Our own Q1ASM reader and validator: pure Python, no I/O, no driver import."""

from .isa import (
    ISA,
    MAX_DURATION_NS,
    MAX_INSTRUCTIONS_QCM,
    MAX_INSTRUCTIONS_QRM,
    MIN_DURATION_NS,
    NUM_REGISTERS,
    InstructionSpec,
    OperandKind,
    OperandSpec,
)
from .parse import Instruction, LabelDef, Operand, ParsedProgram, parse_program
from .validate import assemble_check, validate_program

__all__ = [
    "ISA",
    "MAX_DURATION_NS",
    "MAX_INSTRUCTIONS_QCM",
    "MAX_INSTRUCTIONS_QRM",
    "MIN_DURATION_NS",
    "NUM_REGISTERS",
    "Instruction",
    "InstructionSpec",
    "LabelDef",
    "Operand",
    "OperandKind",
    "OperandSpec",
    "ParsedProgram",
    "assemble_check",
    "parse_program",
    "validate_program",
]
