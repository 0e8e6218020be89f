"""Jobs: one compiled schedule's way through arm, start and retrieve, with a timestamp per state.

A job ends in exactly one terminal state (``done``, ``failed`` or ``cancelled``); ``finished``
is set then, so any number of waiters (``retrieve``, ``submit``) see the same outcome. The store
keeps a bounded number of idle jobs, oldest evicted first, so memory stays bounded.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum

import anyio

from qconductor.adapters.base import AcquisitionData
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError


class JobState(StrEnum):
    COMPILED = "compiled"
    ARMED = "armed"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


@dataclass(eq=False)
class Job:
    id: str
    compiled: CompiledJob
    state: JobState = JobState.COMPILED
    timestamps: dict[str, float] = field(default_factory=dict)
    acquisitions: AcquisitionData | None = None
    error: QconductorError | None = None
    failed_phase: str | None = None
    finished: anyio.Event = field(default_factory=anyio.Event)

    def __post_init__(self) -> None:
        self.timestamps[self.state] = time.time()

    @property
    def clusters(self) -> list[str]:
        return [c.name for c in self.compiled.clusters]

    def advance(self, state: JobState) -> None:
        if self.state in TERMINAL:
            raise QconductorError(
                ErrorCode.JOB_STATE, f"job {self.id} is already {self.state}", "job_id"
            )
        self.state = state
        self.timestamps[state] = time.time()
        if state in TERMINAL:
            self.finished.set()

    def fail(self, phase: str, error: QconductorError) -> None:
        if self.state in TERMINAL:
            return
        self.error = error
        self.failed_phase = phase
        self.advance(JobState.FAILED)

    def require(self, *states: JobState, verb: str) -> None:
        if self.state not in states:
            allowed = " or ".join(states)
            raise QconductorError(
                ErrorCode.JOB_STATE,
                f"cannot {verb} job {self.id}: it is {self.state}, and {verb} needs {allowed}",
                "args.job_id",
            )


class JobStore:
    def __init__(self, keep_finished: int) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._keep = keep_finished
        self._ids = itertools.count(1)
        self._prefix = f"{int(time.time()):x}"

    def new(self, compiled: CompiledJob) -> Job:
        job = Job(id=f"{self._prefix}-{next(self._ids)}", compiled=compiled)
        self._jobs[job.id] = job
        self._evict()
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise QconductorError(
                ErrorCode.UNKNOWN_JOB,
                f"no job {job_id!r} (unknown, or finished long ago and evicted)",
                "args.job_id",
            )
        return job

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(JobState, 0)
        for job in self._jobs.values():
            out[job.state] += 1
        return {str(k): v for k, v in out.items()}

    def _evict(self) -> None:
        """Drop the oldest idle jobs (finished, or compiled and never armed) beyond the bound;
        armed and running jobs are never dropped."""
        excess = len(self._jobs) - self._keep
        if excess <= 0:
            return
        idle = [j.id for j in self._jobs.values() if j.state in TERMINAL or j.state == "compiled"]
        for job_id in idle[:excess]:
            del self._jobs[job_id]
