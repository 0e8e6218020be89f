"""Jobs: one schedule's way from the queue to its acquisitions, with a timestamp per state.

A job submitted to the queue passes ``queued -> compiling -> compiled -> arming -> armed ->
running -> retrieving -> done``; one driven by the explicit verbs starts at ``compiling``
(``compile``) and goes on only when asked. It ends in exactly one terminal state (``done``,
``failed`` or ``cancelled``); ``finished`` is set then, so any number of waiters see the same
outcome. A failed job keeps the phase it failed in, the error (stable code, message, path) and
what its instruments reported: each cluster's health and system flags, and the flags each
sequencer raised (``{"cluster0": {"module2.sequencer0": ["ACQ BIN INDEX INVALID"]}}``); a
cancelled one the reason (a client, its
``ttl_s``, the daemon stopping). Every transition is handed to the store's ``on_change`` (the
daemon publishes it on the data socket). The store keeps a bounded number of idle jobs, oldest
evicted first, so memory stays bounded.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import anyio

from qconductor.adapters.base import AcquisitionData, SequencerFlags
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig
from qconductor.protocol.schedule import Schedule


class JobState(StrEnum):
    QUEUED = "queued"
    COMPILING = "compiling"
    COMPILED = "compiled"
    ARMING = "arming"
    ARMED = "armed"
    RUNNING = "running"
    RETRIEVING = "retrieving"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


@dataclass(eq=False)
class Job:
    id: str
    compiled: CompiledJob | None = None
    state: JobState = JobState.QUEUED
    client: str = ""
    priority: int = 0
    queued: bool = False  # submitted to the queue (the daemon drives it), not by the verbs
    schedule: Schedule | None = None  # until compiled
    hardware: HardwareConfig | None = None  # what it compiles against
    timestamps: dict[str, float] = field(default_factory=dict)
    acquisitions: AcquisitionData | None = None
    error: QconductorError | None = None  # why it failed, or why it was cancelled
    failed_phase: str | None = None
    instrument_status: dict[str, Any] = field(default_factory=dict)  # health, at the failure
    flags: dict[str, SequencerFlags] = field(default_factory=dict)  # cluster -> sequencer flags
    expires_at: float | None = None  # time.monotonic() after which a queued job is dropped
    cancel_reason: str | None = None
    scope: anyio.CancelScope | None = None  # the task working on the job now, if any
    on_change: Callable[[Job, JobState | None], None] | None = field(default=None, repr=False)
    finished: anyio.Event = field(default_factory=anyio.Event)

    def __post_init__(self) -> None:
        self.timestamps[self.state] = time.time()

    @property
    def clusters(self) -> list[str]:
        return [c.name for c in self.compiled.clusters] if self.compiled else []

    @property
    def schedule_name(self) -> str:
        if self.compiled is not None:
            return self.compiled.schedule_name
        return self.schedule.name if self.schedule is not None else ""

    def advance(self, state: JobState) -> None:
        if self.state in TERMINAL:
            raise QconductorError(
                ErrorCode.JOB_STATE, f"job {self.id} is already {self.state}", "job_id"
            )
        previous, self.state = self.state, state
        self.timestamps[state] = time.time()
        if state in TERMINAL:
            self.schedule = self.hardware = None
            self.finished.set()
        if self.on_change is not None:
            self.on_change(self, previous)

    def fail(
        self,
        phase: str,
        error: QconductorError,
        instrument: dict[str, Any] | None = None,
        flags: dict[str, SequencerFlags] | None = None,
    ) -> None:
        if self.state in TERMINAL:
            return
        self.error = error
        self.failed_phase = phase
        self.instrument_status = instrument or {}
        self.flags = flags or {}
        self.advance(JobState.FAILED)

    def cancel(self, reason: str, code: ErrorCode = ErrorCode.JOB_CANCELLED) -> None:
        if self.state in TERMINAL:
            return
        self.cancel_reason = reason
        self.error = QconductorError(code, f"job {self.id} was {reason}", "args.job_id")
        self.advance(JobState.CANCELLED)

    def require(self, *states: JobState, verb: str) -> None:
        if self.state not in states:
            allowed = " or ".join(states)
            raise QconductorError(
                ErrorCode.JOB_STATE,
                f"cannot {verb} job {self.id}: it is {self.state}, and {verb} needs {allowed}",
                "args.job_id",
            )


class JobStore:
    def __init__(
        self,
        keep_finished: int,
        *,
        on_change: Callable[[Job], None] | None = None,
        on_evict: Callable[[Job], None] | None = None,
    ) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._keep = keep_finished
        self._ids = itertools.count(1)
        self._prefix = f"{int(time.time()):x}"
        self._on_change = on_change
        self._on_evict = on_evict
        self._counts = dict.fromkeys(JobState, 0)  # kept as jobs change: status asks often

    def new(self, state: JobState, **fields: Any) -> Job:
        job = Job(
            id=f"{self._prefix}-{next(self._ids)}", state=state, on_change=self._changed, **fields
        )
        self._jobs[job.id] = job
        self._changed(job, None)
        self._evict()
        return job

    def _changed(self, job: Job, previous: JobState | None) -> None:
        if previous is not None:
            self._counts[previous] -= 1
        self._counts[job.state] += 1
        if self._on_change is not None:
            self._on_change(job)

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise QconductorError(
                ErrorCode.UNKNOWN_JOB,
                f"no job {job_id!r} (unknown, or finished long ago and evicted)",
                "args.job_id",
            )
        return job

    def unfinished(self) -> list[Job]:
        """Every job not ended yet, oldest first."""
        return [job for job in self._jobs.values() if job.state not in TERMINAL]

    def counts(self) -> dict[str, int]:
        return {str(state): n for state, n in self._counts.items()}

    def _evict(self) -> None:
        """Drop the oldest idle jobs (ended, or compiled by the verb and never armed) beyond
        the bound; queued, armed and running jobs are never dropped."""
        excess = len(self._jobs) - self._keep
        if excess <= 0:
            return
        idle = list(itertools.islice((j for j in self._jobs.values() if _idle(j)), excess))
        for job in idle:
            del self._jobs[job.id]
            self._counts[job.state] -= 1
            if self._on_evict is not None:
                self._on_evict(job)


def _idle(job: Job) -> bool:
    return job.state in TERMINAL or (job.state == JobState.COMPILED and not job.queued)
