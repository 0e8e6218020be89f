"""``qconductor watch``'s lines, from the daemon's descriptions of a job and of itself."""

from __future__ import annotations

from typing import Any

from qconductor.daemon.watch import progress_line, status_line
from qconductor.protocol.client import JobInfo


def info(**raw: Any) -> JobInfo:
    return JobInfo.from_reply({"job_id": "j1", "timestamps": {}, **raw})


def test_queued_running_and_ended_lines() -> None:
    assert (
        progress_line(info(state="queued", queue_position=3)) == "job j1 queued (queue position 3)"
    )
    running = info(
        state="running",
        repetitions=1000,
        progress={
            "fraction": 0.5,
            "elapsed_s": 1.0,
            "expected_s": 2.0,
            "repetitions_estimate": 500,
        },
    )
    line = progress_line(running)
    assert line.startswith("job j1 running  50% [============>")
    assert line.endswith("1.00/2.00 s  ~500/1000 repetitions")
    failed = info(
        state="failed", error={"phase": "retrieve", "code": "INSTRUMENT_TIMEOUT", "message": "m"}
    )
    assert progress_line(failed) == "job j1 failed during retrieve: [INSTRUMENT_TIMEOUT] m"
    done = info(state="done", timestamps={"queued": 1.0, "done": 1.25})
    assert progress_line(done) == "job j1 done in 0.250 s"


def test_status_line() -> None:
    status = {
        "queue": {"depth": 2},
        "clusters": {
            "cluster0": {
                "owner": "j7",
                "job_state": "running",
                "duty_cycle_last_minute": 0.42,
                "dead_time_p50_ms": 0.4,
            }
        },
        "event_loop_lag": {"max_last_minute_ms": 1.5},
        "subscribers": 1,
    }
    assert status_line(status) == (
        "queue 2 | cluster0: job j7 running (duty 42%, dead time p50 0.4 ms) | "
        "loop lag max 1.5 ms | subscribers 1"
    )
