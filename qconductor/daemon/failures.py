"""How failures become what a client is told: the job's own error, paths made relative to the
request, a defect reported as ``INTERNAL``, a verb refused for a job the queue drives, a
hardware-config reload refused when it would move the daemon's modules."""

from __future__ import annotations

from qconductor.adapters.base import InstrumentAdapter
from qconductor.daemon.jobs import Job, JobState
from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig


def refuse_queued(job: Job, verb: str) -> None:
    if job.queued:
        raise QconductorError(
            ErrorCode.JOB_STATE,
            f"job {job.id} was submitted to the queue: the daemon will {verb} it in its turn",
            "args.job_id",
        )


def error_of(job: Job) -> QconductorError:
    """The error a client gets for a job that did not end ``done``, naming the job."""
    error = job.error
    if error is not None and job.state == JobState.CANCELLED:
        message = error.message
    elif error is not None:
        message = f"job {job.id} failed during {job.failed_phase}: {error.message}"
    else:
        return QconductorError(
            ErrorCode.JOB_STATE, f"job {job.id} is {job.state}", "args.job_id", job_id=job.id
        )
    return QconductorError(
        error.code, message, error.path, hint=error.hint, details=error.details, job_id=job.id
    )


def check_same_modules(
    old: HardwareConfig, new: HardwareConfig, adapters: dict[str, InstrumentAdapter]
) -> None:
    def owned(config: HardwareConfig) -> set[tuple[str, int, str]]:
        return {m for m in config.modules() if m[0] in adapters}

    if owned(old) != owned(new):
        changed = sorted(owned(old) ^ owned(new))
        raise QconductorError(
            ErrorCode.CONFIG_INVALID,
            "the new hardware config changes the modules of clusters this daemon owns "
            f"({', '.join(f'{c}.module{s} {t}' for c, s, t in changed)}); restart the daemon "
            "to change modules",
            "hardware_description",
        )


def prefixed(exc: QconductorError, prefix: str) -> QconductorError:
    def join(path: str) -> str:
        if not path:
            return prefix
        return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"

    details = [
        Diagnostic(
            code=d.code, message=d.message, path=join(d.path), hint=d.hint, severity=d.severity
        )
        for d in exc.details
    ]
    return QconductorError(exc.code, exc.message, join(exc.path), hint=exc.hint, details=details)


def internal_error(exc: BaseException) -> QconductorError:
    return QconductorError(
        ErrorCode.INTERNAL,
        f"internal error ({type(exc).__name__}: {exc}); please report it with the daemon log",
    )
