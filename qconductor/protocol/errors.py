"""The error contract: every error that reaches a user has a stable code, a message and a path.

A :class:`Diagnostic` is one finding (error or warning) about one item, named by ``path``:
``operations[3].port`` for a schedule, ``hardware_options.mixer_corrections.q0:mw-q0.01.amp_ratio``
for a hardware config, ``verb`` for a request. Validators collect diagnostics rather than stopping
at the first; :class:`QconductorError` carries them across function (and process) boundaries.

Codes are part of the public protocol: add new ones, never rename or reuse one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ErrorCode(StrEnum):
    # --- transport and protocol -------------------------------------------------------------
    MALFORMED_MESSAGE = "MALFORMED_MESSAGE"  # not decodable, wrong framing, not a map
    PROTOCOL_VERSION = "PROTOCOL_VERSION"  # the client speaks another protocol version
    UNKNOWN_VERB = "UNKNOWN_VERB"  # the verb names no handler
    INVALID_REQUEST = "INVALID_REQUEST"  # a request's fields fail validation
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    TIMEOUT = "TIMEOUT"  # a deadline passed
    INTERNAL = "INTERNAL"  # a defect in qconductor itself; the message says what to report

    # --- schedules -----------------------------------------------------------------------------
    SCHEDULE_INVALID = "SCHEDULE_INVALID"  # the schedule model rejects a field
    CLOCK_UNDEFINED = "CLOCK_UNDEFINED"  # an operation uses a clock the schedule does not define
    PORT_NOT_CONNECTED = "PORT_NOT_CONNECTED"  # no connectivity edge reaches the port
    PORT_CLOCK_NO_OUTPUT = "PORT_CLOCK_NO_OUTPUT"  # a pulse on a port wired to inputs only
    PORT_CLOCK_NO_INPUT = "PORT_CLOCK_NO_INPUT"  # an acquisition on a port with no input
    OPERATIONS_TOO_CLOSE = "OPERATIONS_TOO_CLOSE"  # < 4 ns between real-time operations
    OPERATIONS_OVERLAP = "OPERATIONS_OVERLAP"  # two pulses overlap on one sequencer
    ACQUISITIONS_TOO_CLOSE = "ACQUISITIONS_TOO_CLOSE"  # < 300 ns between acquisitions
    AMPLITUDE_OUT_OF_RANGE = "AMPLITUDE_OUT_OF_RANGE"
    NCO_OUT_OF_RANGE = "NCO_OUT_OF_RANGE"
    WAVEFORM_MEMORY_EXCEEDED = "WAVEFORM_MEMORY_EXCEEDED"
    INSTRUCTION_LIMIT_EXCEEDED = "INSTRUCTION_LIMIT_EXCEEDED"
    INTEGRATION_LENGTH_INVALID = "INTEGRATION_LENGTH_INVALID"
    TOO_MANY_SEQUENCERS = "TOO_MANY_SEQUENCERS"
    ACQUISITION_LIMIT_EXCEEDED = "ACQUISITION_LIMIT_EXCEEDED"
    UNSUPPORTED_OPERATION = "UNSUPPORTED_OPERATION"  # valid schedule, not (yet) compilable here

    # --- hardware compilation config --------------------------------------------------------
    CONFIG_INVALID = "CONFIG_INVALID"  # umbrella code of a rejected config; details say why
    CONFIG_PARSE = "CONFIG_PARSE"  # not JSON / not a mapping
    CONFIG_UNKNOWN_KEY = "CONFIG_UNKNOWN_KEY"  # extra or misspelled key
    CONFIG_MISSING_KEY = "CONFIG_MISSING_KEY"
    CONFIG_BAD_VALUE = "CONFIG_BAD_VALUE"  # wrong type or out of range
    CONFIG_UNSUPPORTED_VERSION = "CONFIG_UNSUPPORTED_VERSION"
    CONFIG_UNKNOWN_INSTRUMENT_TYPE = "CONFIG_UNKNOWN_INSTRUMENT_TYPE"
    CONFIG_UNKNOWN_MODULE_TYPE = "CONFIG_UNKNOWN_MODULE_TYPE"
    CONFIG_SLOT_OUT_OF_RANGE = "CONFIG_SLOT_OUT_OF_RANGE"
    CONFIG_UNKNOWN_CHANNEL = "CONFIG_UNKNOWN_CHANNEL"  # a channel the module does not have
    CONFIG_UNKNOWN_INSTRUMENT = "CONFIG_UNKNOWN_INSTRUMENT"  # a graph node naming no instrument
    CONFIG_BAD_NODE = "CONFIG_BAD_NODE"  # a graph node that cannot be parsed
    CONFIG_CONFLICTING_CHANNELS = "CONFIG_CONFLICTING_CHANNELS"  # a port on incompatible kinds
    CONFIG_CHANNEL_PAIR = "CONFIG_CHANNEL_PAIR"  # v0.2 output+input pair not allowed
    CONFIG_FREQUENCY_INCONSISTENT = "CONFIG_FREQUENCY_INCONSISTENT"  # IF + LO != RF
    CONFIG_UNUSED_PORT = "CONFIG_UNUSED_PORT"  # warning: options name a port nothing connects

    # --- Q1ASM programs (our own validator, and the assembler seam of the dummy cluster) ------
    Q1ASM_SYNTAX = "Q1ASM_SYNTAX"
    Q1ASM_UNKNOWN_INSTRUCTION = "Q1ASM_UNKNOWN_INSTRUCTION"
    Q1ASM_OPERAND = "Q1ASM_OPERAND"  # wrong count or kind of operands
    Q1ASM_IMMEDIATE_RANGE = "Q1ASM_IMMEDIATE_RANGE"
    Q1ASM_UNDEFINED_LABEL = "Q1ASM_UNDEFINED_LABEL"
    Q1ASM_DUPLICATE_LABEL = "Q1ASM_DUPLICATE_LABEL"
    Q1ASM_REGISTER = "Q1ASM_REGISTER"
    Q1ASM_DURATION = "Q1ASM_DURATION"  # a real-time duration out of range
    Q1ASM_TOO_LONG = "Q1ASM_TOO_LONG"  # more instructions than the sequencer holds
    Q1ASM_NO_STOP = "Q1ASM_NO_STOP"  # execution can run past the last instruction

    # --- jobs and instruments ---------------------------------------------------------------
    UNKNOWN_JOB = "UNKNOWN_JOB"
    JOB_STATE = "JOB_STATE"  # the verb does not apply to the job's current state
    JOB_FAILED = "JOB_FAILED"
    JOB_CANCELLED = "JOB_CANCELLED"  # the job was cancelled before it finished
    JOB_EXPIRED = "JOB_EXPIRED"  # a queued job outlived its ttl_s and was dropped unrun
    INSTRUMENT_ERROR = "INSTRUMENT_ERROR"  # the driver or the instrument refused or faulted
    INSTRUMENT_MISMATCH = "INSTRUMENT_MISMATCH"  # compiled for modules the cluster does not have
    INSTRUMENT_TIMEOUT = "INSTRUMENT_TIMEOUT"  # an instrument call outlived its deadline
    UNKNOWN_CLUSTER = "UNKNOWN_CLUSTER"

    # --- acquisition streams ------------------------------------------------------------------
    REPLAY_UNAVAILABLE = "REPLAY_UNAVAILABLE"  # the messages asked for are no longer buffered


Severity = Literal["error", "warning"]


class Diagnostic(BaseModel):
    """One finding about one item. ``path`` names the item; ``hint`` says what would be valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: ErrorCode
    message: str
    path: str = ""
    hint: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"[{self.code}] {where}{self.message}{tail}"


class QconductorError(Exception):
    """An error with a stable code, a message and the path of the offending item.

    ``details`` holds every diagnostic when a validator collected more than one; the error's own
    code/message/path then summarise them (the first error's path, the umbrella code).
    ``job_id`` names the job an error is about, when there is one (a job that failed, was
    cancelled or is still running when a ``submit`` stopped waiting): ask the daemon about it
    (``job``, ``wait``) for the rest, e.g. the flags its sequencers raised.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        path: str = "",
        *,
        hint: str | None = None,
        details: Sequence[Diagnostic] = (),
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.hint = hint
        self.details: tuple[Diagnostic, ...] = tuple(details)
        self.job_id = job_id

    @classmethod
    def from_diagnostics(
        cls, umbrella: ErrorCode, what: str, diagnostics: Iterable[Diagnostic]
    ) -> QconductorError:
        """Summarise collected diagnostics: ``what`` names the checked thing ("schedule")."""
        errors = [d for d in diagnostics if d.severity == "error"]
        if not errors:
            raise ValueError("from_diagnostics needs at least one error")
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return cls(
            umbrella if len(errors) > 1 else first.code,
            f"{what} rejected: {first.message}{more}",
            first.path,
            hint=first.hint,
            details=errors,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by value (the keyword-only arguments would be lost otherwise), so an error
        raised in a compile worker process reaches the daemon whole."""
        args = (self.code, self.message, self.path, self.hint, self.details, self.job_id)
        return (_rebuild, args)

    def as_diagnostic(self) -> Diagnostic:
        return Diagnostic(code=self.code, message=self.message, path=self.path, hint=self.hint)

    def __str__(self) -> str:
        lines = [str(self.as_diagnostic())]
        if len(self.details) > 1:
            lines.extend(f"  - {d}" for d in self.details)
        return "\n".join(lines)


def _rebuild(
    code: ErrorCode,
    message: str,
    path: str,
    hint: str | None,
    details: Sequence[Diagnostic],
    job_id: str | None = None,
) -> QconductorError:
    return QconductorError(code, message, path, hint=hint, details=details, job_id=job_id)


def format_loc(loc: Sequence[int | str]) -> str:
    """Render a pydantic error location as a path: ``("operations", 3, "port")`` ->
    ``operations[3].port``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
