"""Collecting diagnostics across passes, so a schedule reports every problem at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError


def op_path(index: int, attr: str | None = None) -> str:
    """The path of schedule operation ``index`` (and one of its fields)."""
    base = f"operations[{index}]"
    return f"{base}.op.{attr}" if attr else base


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
