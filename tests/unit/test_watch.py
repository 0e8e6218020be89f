"""``qconductor watch``'s lines, from the daemon's descriptions of a job and of itself."""

from __future__ import annotations

import io
from typing import Any

from qconductor.daemon.watch import progress_line, status_line, watch_job
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


def test_a_job_waiting_in_the_queue_shows_its_place_compiled_or_not() -> None:
    assert progress_line(info(state="compiled", queue_position=0)) == (
        "job j1 compiled (queue position 0)"
    )
    assert progress_line(info(state="compiled")) == "job j1 compiled"  # by the compile verb


def test_the_outcome_lines_say_how_long_it_ran_and_which_sequencer_flagged_what() -> None:
    stamps = {"queued": 10.0, "running": 12.0, "retrieving": 14.5, "done": 14.6}
    assert progress_line(info(state="done", timestamps=stamps)) == (
        "job j1 done in 4.600 s (ran 2.500 s)"
    )
    error = {
        "phase": "run",
        "code": "INSTRUMENT_ERROR",
        "message": "m",
        "flags": {"c0": {"module2.sequencer0": ["ACQ BIN INDEX INVALID", "OUTPUT OVERFLOW"]}},
    }
    assert progress_line(info(state="failed", error=error)) == (
        "job j1 failed during run: [INSTRUMENT_ERROR] m "
        "(flags: c0.module2.sequencer0 ACQ BIN INDEX INVALID, OUTPUT OVERFLOW)"
    )


class Replies:
    """A client whose ``wait`` answers with the descriptions given, in turn."""

    def __init__(self, *replies: dict[str, Any], interrupt: bool = False) -> None:
        self.replies = list(replies)
        self.interrupt = interrupt

    def wait(self, job_id: str, *, timeout_s: float | None = None) -> JobInfo:
        if not self.replies and self.interrupt:
            raise KeyboardInterrupt
        return info(**self.replies.pop(0))


def running(fraction: float) -> dict[str, Any]:
    progress = {"fraction": fraction, "elapsed_s": 2 * fraction, "expected_s": 2.0}
    return {"state": "running", "progress": {**progress, "repetitions_estimate": 0}}


def test_into_a_file_a_line_per_state_and_per_tenth_of_the_progress() -> None:
    out = io.StringIO()
    replies = [
        {"state": "queued", "queue_position": 1},
        {"state": "queued", "queue_position": 1},
        {"state": "compiled", "queue_position": 1},
        {"state": "compiled", "queue_position": 0},
        *(running(f) for f in (0.01, 0.05, 0.12, 0.13, 0.5, 0.99)),
        {"state": "done", "timestamps": {"queued": 0.0, "done": 2.0}},
    ]
    assert watch_job(Replies(*replies), "j1", out) == 0
    lines = out.getvalue().splitlines()
    assert [line.split("[")[0].strip() for line in lines] == [
        "job j1 queued (queue position 1)",
        "job j1 compiled (queue position 1)",
        "job j1 compiled (queue position 0)",
        "job j1 running   1%",
        "job j1 running  12%",
        "job j1 running  50%",
        "job j1 running  99%",
        "job j1 done in 2.000 s",
    ]


def test_an_interrupted_watch_leaves_the_job_alone() -> None:
    out = io.StringIO()
    assert watch_job(Replies(running(0.3), interrupt=True), "j1", out) == 130
    assert out.getvalue().splitlines()[-1] == (
        "stopped watching job j1; it goes on (qconductor cancel j1)"
    )
    failed = {
        "state": "cancelled",
        "error": {"reason": "r", "code": "JOB_CANCELLED", "message": "m"},
    }
    assert watch_job(Replies(failed), "j1", io.StringIO()) == 1
