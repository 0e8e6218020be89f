"""The verbs: compile, arm, start, retrieve, submit, status.

One job at a time owns a cluster (its sequencers start together): ``arm`` takes the job's
clusters, and they are given back when the job ends. ``start`` leaves a background task that
waits for the sequencers to stop, reads the acquisitions and finishes the job, so ``retrieve``
only waits for that. ``submit`` is the four in one and waits for busy clusters instead of
refusing. A failure at any stage fails the job (with its phase), stops the hardware (shielded
from cancellation) and releases the clusters.

Arming a job first sets its external local oscillators (``CompiledJob.local_oscillators``), each
through the LO adapter that ``matches`` it, then arms the clusters: an LO the daemon has no
adapter for (``INSTRUMENT_MISMATCH``) or one that refuses fails the job in phase "arm".
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import numpy as np
import structlog
from anyio.abc import TaskGroup

from qconductor import __version__
from qconductor.adapters.base import InstrumentAdapter
from qconductor.adapters.lo import LocalOscillatorAdapter
from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.daemon.config import DaemonConfig
from qconductor.daemon.jobs import TERMINAL, Job, JobState, JobStore
from qconductor.daemon.looplag import LoopLag
from qconductor.daemon.oscillators import apply_lo_settings, lo_health
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.messages import (
    PROTOCOL_VERSION,
    ArmArgs,
    CancelArgs,
    CompileArgs,
    Request,
    RetrieveArgs,
    StartArgs,
    StatusArgs,
    SubmitArgs,
    error_body,
)
from qconductor.protocol.schedule import Schedule

log = structlog.get_logger("qconductor.daemon")


class ClusterLease:
    """Who owns a cluster now. Released by whichever task finishes the job."""

    def __init__(self) -> None:
        self.owner: str | None = None
        self._sem = anyio.Semaphore(1)

    def try_take(self, job_id: str) -> bool:
        try:
            self._sem.acquire_nowait()
        except anyio.WouldBlock:
            return False
        self.owner = job_id
        return True

    async def take(self, job_id: str) -> None:
        await self._sem.acquire()
        self.owner = job_id

    def give_back(self, job_id: str) -> None:
        if self.owner == job_id:
            self.owner = None
            self._sem.release()


class Service:
    def __init__(
        self,
        config: DaemonConfig,
        hardware: HardwareConfig,
        adapters: dict[str, InstrumentAdapter],
        task_group: TaskGroup,
        local_oscillators: dict[str, LocalOscillatorAdapter] | None = None,
    ) -> None:
        self.config = config
        self.hardware = hardware
        self.adapters = adapters
        self.local_oscillators = dict(local_oscillators or {})
        self.jobs = JobStore(config.jobs.keep_finished)
        self.leases = {name: ClusterLease() for name in adapters}
        self._tg = task_group
        self._started = time.monotonic()
        self.loop_lag = LoopLag()
        self._hardware_loaded_at = time.time()
        self._reload_error: QconductorError | None = None

    async def handle(self, request: Request) -> dict[str, Any]:
        match request:
            case CompileArgs():
                return await self.compile(request)
            case ArmArgs():
                return await self.arm(request.job_id)
            case StartArgs():
                return await self.start(request.job_id)
            case RetrieveArgs():
                return await self.retrieve(request.job_id, request.timeout_s)
            case SubmitArgs():
                return await self.submit(request)
            case StatusArgs():
                return await self.status()
            case CancelArgs():
                return await self.cancel(request.job_id)

    # --- compile ---------------------------------------------------------------------------
    async def compile(self, args: CompileArgs) -> dict[str, Any]:
        job = await self._compile(args.schedule, args.hardware_config)
        result = _job_summary(job)
        if args.include_program:
            result["compiled"] = job.compiled.model_dump(mode="json")
        return result

    async def _compile(self, schedule: Schedule, hardware: dict[str, Any] | None) -> Job:
        config = self.hardware if hardware is None else _client_hardware(hardware)
        compiled = await anyio.to_thread.run_sync(_compile_prefixed, schedule, config)
        job = self.jobs.new(compiled)
        log.info("compiled", job_id=job.id, schedule=schedule.name, hash=compiled.content_hash[:12])
        return job

    # --- arm / start / retrieve ------------------------------------------------------------
    async def arm(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        job.require(JobState.COMPILED, verb="arm")
        adapters = self._adapters_for(job.compiled)
        taken: list[str] = []
        for name in sorted(adapters):
            if not self.leases[name].try_take(job.id):
                for t in taken:
                    self.leases[t].give_back(job.id)
                raise QconductorError(
                    ErrorCode.JOB_STATE,
                    f"cluster {name} is busy with job {self.leases[name].owner}",
                    "args.job_id",
                    hint="retrieve or wait for that job first, or use submit, which queues",
                )
            taken.append(name)
        await self._arm(job, adapters)
        self._tg.start_soon(self._expire_if_not_started, job)
        return _job_summary(job)

    async def _arm(self, job: Job, adapters: dict[str, InstrumentAdapter]) -> None:
        try:
            await apply_lo_settings(self.local_oscillators, job.compiled)
            for adapter in adapters.values():
                await adapter.arm(job.compiled)
        except QconductorError as exc:
            await self._finish_failed(job, "arm", exc)
            raise
        job.advance(JobState.ARMED)
        log.info("armed", job_id=job.id)

    async def start(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        job.require(JobState.ARMED, verb="start")
        await self._start(job)
        return _job_summary(job)

    async def _start(self, job: Job) -> None:
        adapters = self._adapters_for(job.compiled)
        try:
            for adapter in adapters.values():
                await adapter.start()
        except QconductorError as exc:
            await self._finish_failed(job, "start", exc)
            raise
        job.advance(JobState.RUNNING)
        log.info("running", job_id=job.id)
        self._tg.start_soon(self._run_to_end, job, adapters)

    async def _run_to_end(self, job: Job, adapters: dict[str, InstrumentAdapter]) -> None:
        timeout = self.config.jobs.run_timeout_s + job.compiled.duration_ns * 1e-9
        phase = "run"
        try:
            for adapter in adapters.values():
                await adapter.wait_done(timeout)
            if job.state in TERMINAL:  # cancelled while it ran: nothing to retrieve
                return
            phase = "retrieve"
            data: dict[int, Any] = {}
            for adapter in adapters.values():
                data.update(await adapter.retrieve(job.compiled))
        except QconductorError as exc:
            await self._finish_failed(job, phase, exc)
            return
        except Exception as exc:  # a defect: fail the job, keep the daemon
            log.exception("internal error", job_id=job.id)
            await self._finish_failed(job, phase, _internal(exc))
            return
        if job.state in TERMINAL:  # cancelled while it ran: the hardware is already stopped
            return
        job.acquisitions = data
        self._release(job)
        job.advance(JobState.DONE)
        log.info("done", job_id=job.id, seconds=_elapsed(job))

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job at any stage before it ends: an armed or running job's sequencers are
        stopped (shielded from cancellation) and its clusters released for the next job."""
        job = self.jobs.get(job_id)
        if job.state in TERMINAL:
            raise QconductorError(
                ErrorCode.JOB_STATE,
                f"job {job.id} already ended ({job.state}); nothing to cancel",
                "args.job_id",
            )
        if job.state in (JobState.ARMED, JobState.RUNNING):
            with anyio.CancelScope(shield=True):
                for name in job.clusters:
                    adapter = self.adapters.get(name)
                    if adapter is not None and self.leases[name].owner == job.id:
                        await _safe(adapter.stop)
        self._release(job)
        job.advance(JobState.CANCELLED)
        log.info("cancelled", job_id=job.id)
        return _job_summary(job)

    async def retrieve(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job.state == JobState.COMPILED:
            raise QconductorError(
                ErrorCode.JOB_STATE,
                f"job {job.id} has not been armed and started; nothing to retrieve",
                "args.job_id",
            )
        with anyio.move_on_after(timeout_s):
            await job.finished.wait()
        return _job_result(job, timeout_s)

    async def submit(self, args: SubmitArgs) -> dict[str, Any]:
        job = await self._compile(args.schedule, args.hardware_config)
        adapters = self._adapters_for(job.compiled)
        with anyio.move_on_after(args.timeout_s) as waiting:
            for name in sorted(adapters):
                await self.leases[name].take(job.id)
        if waiting.cancelled_caught:
            busy = ", ".join(f"{n} (job {self.leases[n].owner})" for n in sorted(adapters))
            error = QconductorError(
                ErrorCode.TIMEOUT,
                f"job {job.id} waited {args.timeout_s} s for busy clusters: {busy}",
                "args.timeout_s",
            )
            await self._finish_failed(job, "queue", error)
            raise error
        await self._arm(job, adapters)
        await self._start(job)
        with anyio.move_on_after(args.timeout_s):
            await job.finished.wait()
        return _job_result(job, args.timeout_s)

    async def status(self) -> dict[str, Any]:
        clusters: dict[str, Any] = {}
        for name, adapter in self.adapters.items():
            clusters[name] = {"owner": self.leases[name].owner, **await adapter.health()}
        oscillators = await lo_health(self.local_oscillators)
        reload_error = self._reload_error
        return {
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "uptime_s": time.monotonic() - self._started,
            "event_loop_lag": self.loop_lag.report(),
            "jobs": self.jobs.counts(),
            "clusters": clusters,
            "local_oscillators": oscillators,
            "hardware_config": {
                "path": str(self.config.hardware.config),
                "loaded_at": self._hardware_loaded_at,
                "last_reload_error": None if reload_error is None else error_body(reload_error),
            },
        }

    async def reload_hardware(self) -> None:
        """Load the hardware config file again (on SIGHUP). Jobs compiled before keep the
        config they were compiled with; later compiles use the new one. An invalid config, or
        one that moves modules the daemon's instruments do not have, is refused with the
        diagnostics of ``qconductor config check`` and the old config stays in force."""
        path = self.config.hardware.config
        try:
            hardware = await anyio.to_thread.run_sync(load_hardware_config, path)
            _same_modules(self.hardware, hardware, self.adapters)
        except QconductorError as exc:
            self._reload_error = exc
            log.error("hardware config reload refused; keeping the previous one", error=str(exc))
            return
        self.hardware = hardware
        self._hardware_loaded_at = time.time()
        self._reload_error = None
        for warning in hardware.warnings:
            log.warning("hardware config", diagnostic=str(warning))
        log.info("hardware config reloaded", path=str(path))

    # --- shared --------------------------------------------------------------------------------
    def _adapters_for(self, compiled: CompiledJob) -> dict[str, InstrumentAdapter]:
        out: dict[str, InstrumentAdapter] = {}
        for cluster in compiled.clusters:
            adapter = self.adapters.get(cluster.name)
            if adapter is None:
                raise QconductorError(
                    ErrorCode.UNKNOWN_CLUSTER,
                    f"the job uses cluster {cluster.name!r}, which this daemon does not own "
                    f"(it owns {', '.join(sorted(self.adapters)) or 'none'})",
                    "args.hardware_config",
                )
            out[cluster.name] = adapter
        return out

    async def _expire_if_not_started(self, job: Job) -> None:
        await anyio.sleep(self.config.jobs.armed_timeout_s)
        if job.state == JobState.ARMED:
            error = QconductorError(
                ErrorCode.TIMEOUT,
                f"job {job.id} was armed but not started within "
                f"{self.config.jobs.armed_timeout_s} s; its clusters were released",
            )
            await self._finish_failed(job, "arm", error)

    async def _finish_failed(self, job: Job, phase: str, error: QconductorError) -> None:
        log.warning("failed", job_id=job.id, phase=phase, code=str(error.code), error=error.message)
        with anyio.CancelScope(shield=True):
            for name in job.clusters:
                adapter = self.adapters.get(name)
                if adapter is not None and self.leases[name].owner == job.id:
                    await _safe(adapter.stop)
        self._release(job)
        job.fail(phase, error)

    def _release(self, job: Job) -> None:
        for name in job.clusters:
            lease = self.leases.get(name)
            if lease is not None:
                lease.give_back(job.id)


def _same_modules(
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


def _compile_prefixed(schedule: Schedule, hardware: HardwareConfig) -> CompiledJob:
    """Compile, with diagnostics' paths made relative to the request (``args.schedule...``)."""
    try:
        return compile_schedule(schedule, hardware)
    except QconductorError as exc:
        raise _prefixed(exc, "args.schedule") from None


def _client_hardware(raw: dict[str, Any]) -> HardwareConfig:
    try:
        return load_hardware_config(raw)
    except QconductorError as exc:
        raise _prefixed(exc, "args.hardware_config") from None


def _prefixed(exc: QconductorError, prefix: str) -> QconductorError:
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


def _job_summary(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "state": str(job.state),
        "timestamps": dict(job.timestamps),
        "content_hash": job.compiled.content_hash,
        "repetition_duration_ns": job.compiled.repetition_duration_ns,
        "sequencers": [
            {
                "cluster": c.name,
                "slot": m.slot,
                "sequencer": s.index,
                "port": s.port,
                "clock": s.clock,
                **(s.stats.model_dump() if s.stats else {}),
            }
            for c in job.compiled.clusters
            for m in c.modules
            for s in m.sequencers
            if s.used
        ],
        "warnings": [w.model_dump(mode="json") for w in job.compiled.warnings],
    }


def _job_result(job: Job, timeout_s: float) -> dict[str, Any]:
    if job.state == JobState.CANCELLED:
        raise QconductorError(
            ErrorCode.JOB_CANCELLED, f"job {job.id} was cancelled; it has no results", "args.job_id"
        )
    if job.state == JobState.FAILED:
        assert job.error is not None
        raise QconductorError(
            job.error.code,
            f"job {job.id} failed during {job.failed_phase}: {job.error.message}",
            job.error.path,
            hint=job.error.hint,
            details=job.error.details,
        )
    if job.state != JobState.DONE:
        raise QconductorError(
            ErrorCode.TIMEOUT,
            f"job {job.id} is still {job.state} after {timeout_s} s; retrieve it again later",
            "args.timeout_s",
        )
    assert job.acquisitions is not None
    result = _job_summary(job)
    result["acquisitions"] = {
        str(ch): np.ascontiguousarray(data) for ch, data in job.acquisitions.items()
    }
    # how to read each channel: kind, bin mode, bins, coordinates (``JobResult`` parses it)
    result["acquisition_specs"] = [a.model_dump(mode="json") for a in job.compiled.acquisitions]
    return result


def _elapsed(job: Job) -> float:
    return round(job.timestamps[JobState.DONE] - job.timestamps[JobState.COMPILED], 6)


def _internal(exc: BaseException) -> QconductorError:
    return QconductorError(
        ErrorCode.INTERNAL,
        f"internal error ({type(exc).__name__}: {exc}); please report it with the daemon log",
    )


async def _safe(call: Callable[[], Awaitable[None]]) -> None:
    try:
        await call()
    except Exception:
        log.exception("stop failed")
