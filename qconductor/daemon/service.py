"""The verbs, and the queue that drives submitted jobs through the pipeline.

``submit`` queues a job (:mod:`qconductor.daemon.queue` orders the queue). Queued jobs are
compiled ahead of their turn, ``pipeline_depth`` per cluster (:meth:`Service._pump`;
:mod:`qconductor.daemon.pool`: cached by content hash, off the event loop). A compiled job is
dispatched as soon as every cluster it uses is free: one job at a time per cluster, its
sequencers started together; jobs on different clusters run concurrently. No job overtakes one
queued before it on the same cluster, nor one still compiling.

Pipelining: when job N's sequencers stop, its acquisitions are read and its clusters released
at once, so job N+1 arms (settings, upload) while N's data is still being published and
returned. Reading must come first: arming the same sequencers would overwrite N's acquisitions.

The explicit verbs (``compile``, ``arm``, ``start``, ``retrieve``) drive one job by hand: ``arm``
takes the job's clusters if they are free (it does not queue), ``start`` leaves a task that
waits for the sequencers and reads the acquisitions. ``cancel`` works at any stage: a job
being armed, armed, running or read out is stopped (shielded from cancellation, with a
deadline) and its clusters released. Every instrument call has a deadline
(:mod:`qconductor.daemon.instruments`). A failure fails only its job, in the phase it happened,
with the instruments' health and the flags its sequencers raised; the daemon serves on. When
the daemon stops, :meth:`Service.shutdown` stops and marks every job before the sockets close.

Every state change and every acquisition channel is handed to the publisher (the data socket);
every log line about a job carries its id.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from qconductor.adapters.base import AcquisitionData, InstrumentAdapter, SequencerFlags
from qconductor.adapters.lo import LocalOscillatorAdapter
from qconductor.daemon.config import DaemonConfig
from qconductor.daemon.events import NullPublisher, Publisher
from qconductor.daemon.failures import (
    check_same_modules,
    error_of,
    internal_error,
    prefixed,
    refuse_queued,
)
from qconductor.daemon.instruments import FLAGS_TIMEOUT_S, Instruments
from qconductor.daemon.jobs import TERMINAL, Job, JobState, JobStore
from qconductor.daemon.looplag import LoopLag
from qconductor.daemon.metrics import ClusterMetrics
from qconductor.daemon.pool import Compiler
from qconductor.daemon.queue import JobQueue
from qconductor.daemon.status import HealthCache, daemon_status
from qconductor.daemon.summary import describe, job_result, state_meta
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.messages import (
    ArmArgs,
    CancelArgs,
    CompileArgs,
    JobArgs,
    ReplayArgs,
    Request,
    RetrieveArgs,
    StartArgs,
    StatusArgs,
    SubmitArgs,
    WaitArgs,
)
from qconductor.protocol.schedule import Schedule
from qconductor.protocol.stream import encode_replay

log = structlog.get_logger("qconductor.daemon")
_NOTHING = contextlib.nullcontext()
_HARDWARE_STATES = (JobState.ARMING, JobState.ARMED, JobState.RUNNING, JobState.RETRIEVING)


class Service:
    def __init__(
        self,
        config: DaemonConfig,
        hardware: HardwareConfig,
        adapters: dict[str, InstrumentAdapter],
        task_group: TaskGroup,
        local_oscillators: dict[str, LocalOscillatorAdapter] | None = None,
        *,
        publisher: Publisher | None = None,
        compiler: Compiler | None = None,
    ) -> None:
        self.config = config
        self.hardware = hardware
        self.adapters = adapters
        self.local_oscillators = dict(local_oscillators or {})
        self.instruments = Instruments(
            adapters,
            self.local_oscillators,
            call_timeout_s=config.instrument.call_timeout_s,
            run_timeout_s=config.jobs.run_timeout_s,
        )
        self.publisher: Publisher = publisher or NullPublisher()
        self.compiler = compiler or Compiler(
            workers=config.compile.workers,
            pool_min_operations=config.compile.pool_min_operations,
            cache_size=config.compile.cache_size,
        )
        self.jobs = JobStore(
            config.jobs.keep_finished, on_change=self._publish_state, on_evict=self._forget
        )
        self.queue = JobQueue(
            strict_priority=config.queue.strict_priority, aging_s=config.queue.aging_s
        )
        self.owner: dict[str, str | None] = dict.fromkeys(adapters)
        self.metrics = {name: ClusterMetrics() for name in adapters}
        self.loop_lag = LoopLag()
        self.health = HealthCache()
        self._tg = task_group
        self._closing = False
        self.started = time.monotonic()
        self.hardware_loaded_at = time.time()
        self.reload_error: QconductorError | None = None

    async def handle(self, request: Request, peer: str = "") -> dict[str, Any]:
        """Answer one request; ``peer`` names the connection it came on."""
        job_id = getattr(request, "job_id", None)
        bound = structlog.contextvars.bound_contextvars(job_id=job_id) if job_id else _NOTHING
        with bound:
            match request:
                case CompileArgs():
                    return await self.compile(request, peer)
                case ArmArgs():
                    return await self.arm(request.job_id)
                case StartArgs():
                    return await self.start(request.job_id)
                case RetrieveArgs():
                    return await self.retrieve(request.job_id, request.timeout_s)
                case SubmitArgs():
                    return await self.submit(request, peer)
                case StatusArgs():
                    return await self.status()
                case CancelArgs():
                    return await self.cancel(request.job_id)
                case JobArgs():
                    return self.describe(self.jobs.get(request.job_id))
                case WaitArgs():
                    return await self.wait(request.job_id, request.timeout_s)
                case ReplayArgs():
                    messages = self.publisher.replay(
                        request.stream, request.from_seq, request.to_seq
                    )
                    return encode_replay(messages)

    # --- the explicit verbs ----------------------------------------------------------------
    async def compile(self, args: CompileArgs, peer: str = "") -> dict[str, Any]:
        hardware = await self._hardware_for(args.hardware_config)
        job = self.jobs.new(JobState.COMPILING, client=peer, schedule=args.schedule)
        try:
            compiled = await self._compiled(args.schedule, hardware)
        except QconductorError as exc:
            job.fail("compile", exc)
            raise
        if job.state in TERMINAL:  # cancelled while it compiled
            raise error_of(job)
        job.compiled = compiled
        job.advance(JobState.COMPILED)
        log.info("compiled", job_id=job.id, schedule=compiled.schedule_name)
        result = self.describe(job)
        if args.include_program:
            result["compiled"] = compiled.model_dump(mode="json")
        return result

    async def arm(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        job.require(JobState.COMPILED, verb="arm")
        refuse_queued(job, "arm")
        if self._closing:
            raise QconductorError(ErrorCode.JOB_STATE, "the daemon is stopping; not armed")
        assert job.compiled is not None
        adapters = self.instruments.for_job(job.compiled)
        for name in sorted(adapters):
            if self.owner[name] is not None:
                raise QconductorError(
                    ErrorCode.JOB_STATE,
                    f"cluster {name} is busy with job {self.owner[name]}",
                    "args.job_id",
                    hint="retrieve or wait for that job first, or use submit, which queues",
                )
        self._take(job, adapters)
        await self._drive(job, adapters, arm=True, run=False)
        if job.state != JobState.ARMED:
            raise error_of(job)
        self._tg.start_soon(self._expire_if_not_started, job)
        return self.describe(job)

    async def start(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        job.require(JobState.ARMED, verb="start")
        refuse_queued(job, "start")
        assert job.compiled is not None
        adapters = self.instruments.for_job(job.compiled)
        await self._tg.start(functools.partial(self._drive, job, adapters, arm=False, run=True))
        if job.state in (JobState.FAILED, JobState.CANCELLED):
            raise error_of(job)
        return self.describe(job)

    async def retrieve(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job.state == JobState.COMPILED and not job.queued:
            raise QconductorError(
                ErrorCode.JOB_STATE,
                f"job {job.id} has not been armed and started; nothing to retrieve",
                "args.job_id",
            )
        with anyio.move_on_after(timeout_s):
            await job.finished.wait()
        return job_result(job, timeout_s)

    async def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        with anyio.move_on_after(timeout_s):
            await job.finished.wait()
        return self.describe(job)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job at any stage before it ends: a queued one leaves the queue, one on the
        hardware is stopped (shielded, with a deadline) and its clusters released."""
        job = self.jobs.get(job_id)
        if job.state in TERMINAL:
            raise QconductorError(
                ErrorCode.JOB_STATE,
                f"job {job.id} already ended ({job.state}); nothing to cancel",
                "args.job_id",
            )
        reason = "cancelled by a client"
        if self.queue.remove(job):
            job.cancel(reason)
            self._pump()
        elif job.scope is not None:  # a task is arming, running or reading it
            job.cancel_reason = reason
            job.scope.cancel()
            with anyio.move_on_after(self.config.instrument.call_timeout_s + 1.0):
                await job.finished.wait()
        elif job.state == JobState.ARMED:
            job.cancel_reason = reason
            await self._cancelled(job)
        else:  # compiling, compiled by the verb, or dispatched and not yet arming
            job.cancel(reason)
            self._release(job)
        log.info("cancel", job_id=job.id, state=str(job.state))
        return self.describe(job)

    # --- the queue ---------------------------------------------------------------------------
    async def submit(self, args: SubmitArgs, peer: str = "") -> dict[str, Any]:
        hardware = None
        if args.hardware_config is not None:
            hardware = await self._hardware_for(args.hardware_config)
        if self._closing:
            raise QconductorError(ErrorCode.JOB_STATE, "the daemon is stopping; not queued")
        job = self.jobs.new(
            JobState.QUEUED,
            queued=True,
            client=args.client or peer,
            priority=args.priority,
            schedule=args.schedule,
            hardware=hardware,
        )
        now = time.monotonic()
        if args.ttl_s is not None:
            job.expires_at = now + args.ttl_s
            self._tg.start_soon(self._expire_later, job, args.ttl_s)
        self.queue.push(job, now)
        log.info("queued", job_id=job.id, client=job.client, priority=job.priority)
        self._pump()
        if not args.wait:
            return self.describe(job)
        with anyio.move_on_after(args.timeout_s):
            await job.finished.wait()
        return job_result(job, args.timeout_s)

    def _pump(self) -> None:
        """Dispatch every queued job whose clusters are free, in queue order, then start
        compiling the jobs that wait, ahead of their turn. Synchronous: nothing changes under
        it. It looks no further than it must: past an uncompiled job (whose clusters are
        unknown, so nothing behind it may go first) or once every cluster is taken, only the
        jobs to compile ahead matter.

        The compile-ahead window is ``pipeline_depth`` jobs per cluster: a compiled job that
        waits counts against its own clusters only, so one cluster's backlog does not keep
        another cluster's next job from compiling (and running). A job not compiled yet may
        be for any cluster: it counts against all, at most ``pipeline_depth`` compile at once,
        and at most ``pipeline_depth`` x clusters jobs are compiled ahead in all."""
        if self._closing:
            return
        now = time.monotonic()
        depth = self.config.compile.pipeline_depth
        cap = depth * len(self.owner)
        ahead = dict.fromkeys(self.owner, 0)  # compiled jobs waiting, per cluster
        compiled_waiting = 0
        unknown = 0  # jobs compiling (or about to): their clusters are not known yet
        blocked: set[str] = set()
        dispatch: list[Job] = []
        to_compile: list[Job] = []
        behind_uncompiled = False
        for job in self.queue.ordered(now):
            room = (
                unknown < depth
                and unknown + compiled_waiting < cap
                and min(ahead.values(), default=0) + unknown < depth
            )
            if not room and (behind_uncompiled or len(blocked) >= len(self.owner)):
                break
            if job.compiled is None:
                behind_uncompiled = True  # its clusters are unknown: keep the order behind it
                if job.state == JobState.COMPILING:
                    unknown += 1
                elif job.state == JobState.QUEUED and room:
                    to_compile.append(job)
                    unknown += 1
                continue
            clusters = job.clusters
            if not behind_uncompiled:
                free = blocked.isdisjoint(clusters) and all(self.owner[c] is None for c in clusters)
                blocked.update(clusters)
                if free:
                    dispatch.append(job)
                    for name in clusters:
                        self.owner[name] = job.id
                    continue
            compiled_waiting += 1
            for name in clusters:
                ahead[name] += 1
        for job in dispatch:
            self.queue.dispatched(job, now)
            job.schedule = job.hardware = None  # what it was compiled from: no longer needed
            assert job.compiled is not None
            adapters = self.instruments.for_job(job.compiled)
            self._tg.start_soon(functools.partial(self._drive, job, adapters, arm=True, run=True))
        for job in to_compile:
            job.advance(JobState.COMPILING)
            self._tg.start_soon(self._compile_queued, job)

    async def _compile_queued(self, job: Job) -> None:
        structlog.contextvars.unbind_contextvars("request_id")
        with structlog.contextvars.bound_contextvars(job_id=job.id):
            assert job.schedule is not None
            hardware = job.hardware or self.hardware
            error: QconductorError | None = None
            try:
                compiled = await self._compiled(job.schedule, hardware)
                self.instruments.for_job(compiled)
            except QconductorError as exc:
                error = exc
            except Exception as exc:
                log.exception("internal error while compiling")
                error = internal_error(exc)
            if job.state in TERMINAL:  # cancelled or expired meanwhile
                return
            if job.hardware is None and hardware is not self.hardware:
                log.info("compiling again: the hardware config was reloaded meanwhile")
                self._tg.start_soon(self._compile_queued, job)
                return
            if error is not None:
                self.queue.remove(job)
                log.warning("failed", phase="compile", code=str(error.code), error=error.message)
                job.fail("compile", error)
            else:
                job.compiled = compiled  # the schedule is kept until dispatch: see reload
                job.advance(JobState.COMPILED)
            self._pump()

    async def _expire_later(self, job: Job, ttl_s: float) -> None:
        structlog.contextvars.unbind_contextvars("request_id")
        assert job.expires_at is not None
        await anyio.sleep(max(0.0, job.expires_at - time.monotonic()))
        if self.queue.remove(job):
            job.cancel(
                f"dropped unrun: its ttl_s of {ttl_s:g} s passed while it was {job.state}",
                ErrorCode.JOB_EXPIRED,
            )
            log.info("expired", job_id=job.id)
            self._pump()

    def close(self) -> None:
        """The daemon is stopping: dispatch nothing more, cancel what is still queued."""
        self._closing = True
        for job in list(self.queue):
            self.queue.remove(job)
            job.cancel("cancelled: the daemon stopped before it ran")
            log.info("cancelled", job_id=job.id, reason=job.cancel_reason)

    @property
    def stop_timeout_s(self) -> float:
        """How long :meth:`shutdown` waits at most: a job's clusters stopped (at once, each
        within ``call_timeout_s``), or a failing job's stop and failure report."""
        return self.config.instrument.call_timeout_s + 2 * FLAGS_TIMEOUT_S + 1.0

    async def shutdown(self) -> None:
        """The daemon is stopping, and the data socket still publishes: the queue is closed
        (queued jobs cancelled), every job on the hardware is stopped and marked cancelled,
        and so is every other job not ended (compiled by the verb, say). Returns when all have
        ended, or after :attr:`stop_timeout_s`."""
        self.close()
        reason = "cancelled: the daemon stopped while it ran"
        ending: list[Job] = []
        for job in self.jobs.unfinished():
            with structlog.contextvars.bound_contextvars(job_id=job.id):
                if job.scope is not None:  # a task arms, runs or reads it: it stops the hardware
                    job.cancel_reason = job.cancel_reason or reason
                    job.scope.cancel()
                    ending.append(job)
                elif job.state == JobState.ARMED:
                    job.cancel_reason = reason
                    self._tg.start_soon(self._cancelled, job)
                    ending.append(job)
                else:
                    job.cancel("cancelled: the daemon stopped before it ran")
                    self._release(job)
                    log.info("cancelled", reason=job.cancel_reason)
        with anyio.move_on_after(self.stop_timeout_s):
            for job in ending:
                await job.finished.wait()

    # --- driving a job on its instruments --------------------------------------------------
    async def _drive(
        self,
        job: Job,
        adapters: dict[str, InstrumentAdapter],
        *,
        arm: bool,
        run: bool,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Arm and/or run (start, wait, read) a job whose clusters it owns. Cancellable through
        ``job.scope``; a failure or cancellation stops the hardware and releases the clusters."""
        compiled = job.compiled
        assert compiled is not None
        if self._closing and job.state not in TERMINAL:  # dispatched, then the daemon stopped
            job.cancel("cancelled: the daemon stopped before it ran")
            self._release(job)
        if job.state in TERMINAL:  # cancelled between its dispatch and now
            task_status.started()
            return
        phase = "arm" if arm else "start"
        data: AcquisitionData | None = None
        reported = False
        if job.queued:  # a task of its own: not about the request that happened to start it
            structlog.contextvars.unbind_contextvars("request_id")
        with structlog.contextvars.bound_contextvars(job_id=job.id), anyio.CancelScope() as scope:
            job.scope = scope
            try:
                if arm:
                    job.advance(JobState.ARMING)
                    await self.instruments.arm(compiled, adapters)
                    job.advance(JobState.ARMED)
                if run:
                    phase = "start"
                    await self.instruments.start(adapters)
                    job.advance(JobState.RUNNING)
                    self._run_started(job)
                    task_status.started()
                    reported = True
                    phase = "run"
                    await self.instruments.wait_done(compiled, adapters)
                    job.advance(JobState.RETRIEVING)
                    self._run_ended(job)
                    phase = "retrieve"
                    data = await self.instruments.retrieve(compiled, adapters)
            except QconductorError as exc:
                await self._fail(job, phase, exc)
            except anyio.get_cancelled_exc_class():
                await self._cancelled(job)
                raise
            except Exception as exc:  # a defect: fail the job, keep the daemon
                log.exception("internal error", phase=phase)
                await self._fail(job, phase, internal_error(exc))
            finally:
                job.scope = None
                if not reported:
                    task_status.started()
        if data is not None and job.state == JobState.RETRIEVING:
            self._release(job)  # N's data is read: N+1 may arm now
            # bound again: this task's context came from whichever job's task dispatched it
            with structlog.contextvars.bound_contextvars(job_id=job.id):
                self._finish(job, data)

    def _finish(self, job: Job, data: AcquisitionData) -> None:
        assert job.compiled is not None
        specs = {spec.acq_channel: spec for spec in job.compiled.acquisitions}
        for channel, array in data.items():
            spec = specs.get(channel)
            meta = spec.model_dump(mode="json") if spec is not None else {}
            try:
                self.publisher.publish_acquisitions(job.id, channel, {"data": array}, meta)
            except Exception:
                log.exception("publishing acquisitions failed", channel=channel)
        job.acquisitions = data
        job.advance(JobState.DONE)
        log.info("done", seconds=_elapsed(job))

    async def _fail(self, job: Job, phase: str, error: QconductorError) -> None:
        log.warning("failed", phase=phase, code=str(error.code), error=error.message)
        with anyio.CancelScope(shield=True):
            owned = self._owned(job)
            health: dict[str, Any] = {}
            flags: dict[str, SequencerFlags] = {}
            if job.state in _HARDWARE_STATES:
                await self.instruments.stop(owned)
                health, flags = await self.instruments.failure_report(owned)
            if job.state == JobState.RUNNING:
                self._run_ended(job)
            job.fail(phase, error, health, flags)
            self._release(job)

    async def _cancelled(self, job: Job) -> None:
        with anyio.CancelScope(shield=True):
            if job.state in _HARDWARE_STATES:
                await self.instruments.stop(self._owned(job))
            if job.state == JobState.RUNNING:
                self._run_ended(job)
            job.cancel(job.cancel_reason or "cancelled: the daemon stopped while it ran")
            self._release(job)
            log.info("cancelled", reason=job.cancel_reason)

    async def _expire_if_not_started(self, job: Job) -> None:
        await anyio.sleep(self.config.jobs.armed_timeout_s)
        if job.state == JobState.ARMED and job.scope is None:
            error = QconductorError(
                ErrorCode.TIMEOUT,
                f"job {job.id} was armed but not started within "
                f"{self.config.jobs.armed_timeout_s} s; its clusters were released",
            )
            with structlog.contextvars.bound_contextvars(job_id=job.id):
                await self._fail(job, "arm", error)

    def _take(self, job: Job, adapters: dict[str, InstrumentAdapter]) -> None:
        for name in adapters:
            self.owner[name] = job.id

    def _owned(self, job: Job) -> list[str]:
        return [name for name in job.clusters if self.owner.get(name) == job.id]

    def _release(self, job: Job) -> None:
        for name in self._owned(job):
            self.owner[name] = None
        self._pump()

    def _run_started(self, job: Job) -> None:
        at = job.timestamps[JobState.RUNNING]
        ready = job.timestamps.get(JobState.COMPILED) if job.queued else None
        for name in job.clusters:
            self.metrics[name].run_started(at, ready_at=ready)

    def _run_ended(self, job: Job) -> None:
        at = job.timestamps.get(JobState.RETRIEVING, time.time())
        for name in job.clusters:
            self.metrics[name].run_ended(at)

    # --- compiling -----------------------------------------------------------------------------
    async def _compiled(self, schedule: Schedule, hardware: HardwareConfig) -> CompiledJob:
        try:
            return await self.compiler.compile(schedule, hardware)
        except QconductorError as exc:
            raise prefixed(exc, "args.schedule") from None

    async def _hardware_for(self, raw: dict[str, Any] | None) -> HardwareConfig:
        if raw is None:
            return self.hardware
        try:
            return await anyio.to_thread.run_sync(load_hardware_config, raw)
        except QconductorError as exc:
            raise prefixed(exc, "args.hardware_config") from None

    # --- reporting -----------------------------------------------------------------------------
    def describe(self, job: Job) -> dict[str, Any]:
        position = self.queue.position(job, time.monotonic()) if job in self.queue else None
        return describe(job, position=position)

    def _publish_state(self, job: Job) -> None:
        try:
            self.publisher.publish_state(job.id, str(job.state), state_meta(job))
        except Exception:
            log.exception("publishing a job state failed", job_id=job.id)

    def _forget(self, job: Job) -> None:
        self.publisher.forget_job(job.id)

    async def status(self) -> dict[str, Any]:
        return await daemon_status(self)

    async def publish_status(self) -> None:
        """Publish the status on the data socket every ``status_interval_s`` (forever)."""
        while True:
            await anyio.sleep(self.config.streams.status_interval_s)
            try:
                self.publisher.publish_status(await self.status())
            except Exception:
                log.exception("publishing the status failed")

    async def reload_hardware(self) -> None:
        """Load the hardware config file again (on SIGHUP). It applies between jobs: a job
        already on its clusters runs as compiled; every queued job (one compiled ahead too, or
        compiling now) is compiled again with the new config, unless it came with a config
        of its own; jobs compiled by the ``compile`` verb keep theirs. An invalid config, or
        one that moves modules the daemon's instruments do not have, is refused with the
        diagnostics of ``qconductor config check``; the old one stays."""
        path = self.config.hardware.config
        try:
            hardware = await anyio.to_thread.run_sync(load_hardware_config, path)
            check_same_modules(self.hardware, hardware, self.adapters)
        except QconductorError as exc:
            self.reload_error = exc
            log.error("hardware config reload refused; keeping the previous one", error=str(exc))
            return
        self.hardware = hardware
        self.hardware_loaded_at = time.time()
        self.reload_error = None
        for warning in hardware.warnings:
            log.warning("hardware config", diagnostic=str(warning))
        log.info("hardware config reloaded", path=str(path))
        stale = [j for j in self.queue if j.compiled is not None and j.hardware is None]
        for job in stale:  # compiled ahead with the old config: again, with the new one
            with structlog.contextvars.bound_contextvars(job_id=job.id):
                log.info("compiling again: the hardware config was reloaded")
                job.compiled = None
                job.advance(JobState.COMPILING)
                self._tg.start_soon(self._compile_queued, job)


def _elapsed(job: Job) -> float:
    first = min(job.timestamps.values())
    return round(job.timestamps[JobState.DONE] - first, 6)
