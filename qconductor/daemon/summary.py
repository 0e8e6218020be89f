"""What a client is told about a job: its description, and its result.

:func:`describe` is the reply of ``compile``, ``arm``, ``start``, ``cancel``, ``job`` and
``wait``: state, the timestamp of every state passed, the client and priority, the queue
position while queued, the progress while running (elapsed against the duration the compiled
job knows), the sequencers used once compiled, and the failure (phase, code, message, path,
each cluster's health as ``instrument`` and the flags its sequencers raised as ``flags``) or
the reason for a cancellation. :func:`job_result` adds the
acquisitions, or raises the job's own error when it has none. :func:`state_meta` is what the
data socket's ``job/<id>/state`` stream carries with each state.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from qconductor.daemon.failures import error_of
from qconductor.daemon.jobs import Job, JobState
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import error_body


def describe(job: Job, *, position: int | None = None, now: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "job_id": job.id,
        "state": str(job.state),
        "timestamps": dict(job.timestamps),
        "client": job.client,
        "priority": job.priority,
        "schedule_name": job.schedule_name,
    }
    if position is not None:
        out["queue_position"] = position
    compiled = job.compiled
    if compiled is not None:
        out |= {
            "content_hash": compiled.content_hash,
            "repetitions": compiled.repetitions,
            "repetition_duration_ns": compiled.repetition_duration_ns,
            "duration_ns": compiled.duration_ns,
            "sequencers": [
                {
                    "cluster": c.name,
                    "slot": m.slot,
                    "sequencer": s.index,
                    "port": s.port,
                    "clock": s.clock,
                    **(s.stats.model_dump() if s.stats else {}),
                }
                for c in compiled.clusters
                for m in c.modules
                for s in m.sequencers
                if s.used
            ],
            "warnings": [w.model_dump(mode="json") for w in compiled.warnings],
        }
        if job.state == JobState.RUNNING:
            out["progress"] = _progress(job, time.time() if now is None else now)
    if job.state == JobState.FAILED and job.error is not None:
        out["error"] = {
            "phase": job.failed_phase,
            **error_body(job.error),
            "instrument": job.instrument_status,
            "flags": job.flags,
        }
    if job.state == JobState.CANCELLED and job.error is not None:
        out["error"] = {"reason": job.cancel_reason, **error_body(job.error)}
    return out


def state_meta(job: Job) -> dict[str, Any]:
    """The meta of a state message: when, whose, and how a failed or cancelled job ended."""
    meta: dict[str, Any] = {
        "t": job.timestamps[job.state],
        "client": job.client,
        "priority": job.priority,
        "schedule_name": job.schedule_name,
    }
    if job.error is not None and job.state == JobState.FAILED:
        meta |= {"code": str(job.error.code), "message": job.error.message}
        meta |= {"phase": job.failed_phase, "flags": job.flags}
    elif job.error is not None and job.state == JobState.CANCELLED:
        meta |= {"code": str(job.error.code), "message": job.error.message}
        meta["reason"] = job.cancel_reason
    return meta


def _progress(job: Job, now: float) -> dict[str, Any]:
    assert job.compiled is not None
    elapsed = max(0.0, now - job.timestamps[JobState.RUNNING])
    expected = job.compiled.duration_ns * 1e-9
    period = job.compiled.repetition_duration_ns * 1e-9
    repetitions = job.compiled.repetitions
    done = min(repetitions, int(elapsed / period)) if period > 0 else repetitions
    return {
        "elapsed_s": round(elapsed, 6),
        "expected_s": round(expected, 9),
        "fraction": round(min(1.0, elapsed / expected), 4) if expected > 0 else 1.0,
        "repetitions_estimate": done,
    }


def job_result(job: Job, timeout_s: float) -> dict[str, Any]:
    """The job's acquisitions; its error if it failed or was cancelled; TIMEOUT if still going."""
    if job.state in (JobState.CANCELLED, JobState.FAILED):
        raise error_of(job)
    if job.state != JobState.DONE:
        raise QconductorError(
            ErrorCode.TIMEOUT,
            f"job {job.id} is still {job.state} after {timeout_s:g} s; it goes on: wait for it "
            "(wait, retrieve) or cancel it",
            "args.timeout_s",
            job_id=job.id,
        )
    assert job.acquisitions is not None
    assert job.compiled is not None
    result = describe(job)
    result["acquisitions"] = {
        str(ch): np.ascontiguousarray(data) for ch, data in job.acquisitions.items()
    }
    # how to read each channel: kind, bin mode, bins, coordinates (``JobResult`` parses it)
    result["acquisition_specs"] = [a.model_dump(mode="json") for a in job.compiled.acquisitions]
    return result
