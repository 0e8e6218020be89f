"""Collecting diagnostics across passes, so a schedule reports every problem at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError

# the path of every flat operation index while a schedule with loops compiles (see .loops)
_PATHS: ContextVar[list[str] | None] = ContextVar("qconductor_op_paths", default=None)


def op_path(index: int, attr: str | None = None) -> str:
    """The path of schedule operation ``index`` (and one of its fields); in a schedule with
    loops, ``index`` is the flat index and the path goes through the loop bodies."""
    paths = _PATHS.get()
    base = paths[index] if paths is not None else f"operations[{index}]"
    return f"{base}.op.{attr}" if attr else base


@contextmanager
def operation_paths(paths: list[str] | None) -> Iterator[None]:
    """Resolve flat operation indices through ``paths`` meanwhile."""
    token = _PATHS.set(paths)
    try:
        yield
    finally:
        _PATHS.reset(token)


@dataclass
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: ErrorCode, message: str, path: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code=code, message=message, path=path, hint=hint))

    def warning(self, code: ErrorCode, message: str, path: str, hint: str | None = None) -> None:
        self.items.append(
            Diagnostic(code=code, message=message, path=path, hint=hint, severity="warning")
        )

    def add(self, error: QconductorError) -> None:
        self.items.extend(error.details or [error.as_diagnostic()])

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def raise_if_errors(self, what: str = "schedule") -> None:
        if self.has_errors:
            raise QconductorError.from_diagnostics(ErrorCode.SCHEDULE_INVALID, what, self.items)
