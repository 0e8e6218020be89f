"""Jobs and their store: one terminal state, a timestamp per state, every change reported,
counts kept as jobs change, and only idle jobs evicted."""

from __future__ import annotations

import pytest

from qconductor.daemon.jobs import Job, JobState, JobStore
from qconductor.protocol.errors import ErrorCode, QconductorError


def test_a_job_ends_once_with_its_reason() -> None:
    job = Job(id="j")
    job.advance(JobState.COMPILING)
    job.cancel("cancelled by a client")
    job.fail("arm", QconductorError(ErrorCode.INSTRUMENT_ERROR, "late"))  # ignored: it ended
    assert job.state == JobState.CANCELLED
    assert job.finished.is_set()
    assert job.error is not None
    assert job.error.code == ErrorCode.JOB_CANCELLED
    assert list(job.timestamps) == ["queued", "compiling", "cancelled"]
    with pytest.raises(QconductorError) as info:
        job.advance(JobState.RUNNING)
    assert info.value.code == ErrorCode.JOB_STATE


def test_the_store_reports_changes_counts_and_evicts_idle_jobs_only() -> None:
    seen: list[tuple[str, str]] = []
    evicted: list[str] = []
    store = JobStore(
        2, on_change=lambda j: seen.append((j.id, j.state)), on_evict=lambda j: evicted.append(j.id)
    )
    done = store.new(JobState.QUEUED, queued=True)
    done.advance(JobState.DONE)
    waiting = store.new(JobState.QUEUED, queued=True)
    compiled = store.new(JobState.COMPILED)  # by the verb, never armed: idle
    fresh = store.new(JobState.QUEUED, queued=True)
    assert evicted == [done.id, compiled.id]  # the queued ones stay
    assert store.get(waiting.id) is waiting
    with pytest.raises(QconductorError) as info:
        store.get(done.id)
    assert info.value.code == ErrorCode.UNKNOWN_JOB
    counts = store.counts()
    assert counts["queued"] == 2
    assert counts["done"] == counts["compiled"] == 0
    assert seen[:2] == [(done.id, "queued"), (done.id, "done")]
    assert seen[-1] == (fresh.id, "queued")
