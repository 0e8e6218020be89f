"""``qconductor watch``: follow a job, or the daemon, from the command line.

``watch JOB_ID`` long-polls the ``wait`` verb (it answers at once when the job ends, else
after a short while with the job as it is) and keeps one line up to date: the state, the queue
position while queued, and for a running job a bar of elapsed against expected time (the
compiled job knows its duration) with the repetitions that makes. It exits when the job ends:
0 for ``done``, 1 for ``failed`` or ``cancelled`` (with the error). ``watch`` alone prints one
status line a second: queue depth and, per cluster, its job, duty cycle and dead time.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from qconductor.protocol.client import Client, JobInfo

POLL_S = 0.25
BAR = 24


def progress_line(info: JobInfo) -> str:
    """One line about a job as the daemon described it."""
    head = f"job {info.job_id} {info.state}"
    raw = info.raw
    if info.state == "queued" and raw.get("queue_position") is not None:
        return f"{head} (queue position {raw['queue_position']})"
    progress = raw.get("progress")
    if info.state == "running" and progress:
        fraction = float(progress["fraction"])
        filled = int(fraction * BAR)
        bar = "=" * filled + (">" if filled < BAR else "") + " " * max(0, BAR - filled - 1)
        reps = raw.get("repetitions")
        reps_text = f"  ~{progress['repetitions_estimate']}/{reps} repetitions" if reps else ""
        return (
            f"{head} {fraction:4.0%} [{bar}] {progress['elapsed_s']:.2f}/"
            f"{progress['expected_s']:.2f} s{reps_text}"
        )
    if info.ended and info.error:
        error = info.error
        where = f" during {error['phase']}" if error.get("phase") else ""
        return f"{head}{where}: [{error.get('code')}] {error.get('message')}"
    if info.ended:
        stamps = info.timestamps
        took = max(stamps.values()) - min(stamps.values()) if stamps else 0.0
        return f"{head} in {took:.3f} s"
    return head


def watch_job(client: Client, job_id: str, out: TextIO = sys.stdout) -> int:
    live = out.isatty()
    last = ""
    while True:
        info = client.wait(job_id, timeout_s=POLL_S)
        line = progress_line(info)
        if live:
            out.write(f"\r{line:<{len(last)}}")
        elif line.split(" ", 3)[:3] != last.split(" ", 3)[:3]:  # a new state: a new line
            out.write(line + "\n")
        out.flush()
        last = line
        if info.ended:
            if live:
                out.write("\n")
            return 0 if info.state == "done" else 1


def status_line(status: dict[str, Any]) -> str:
    queue = status.get("queue", {})
    parts = [f"queue {queue.get('depth', 0)}"]
    for name, cluster in status.get("clusters", {}).items():
        job = (
            f"job {cluster['owner']} {cluster.get('job_state')}" if cluster.get("owner") else "idle"
        )
        dead = cluster.get("dead_time_p50_ms")
        dead_text = f", dead time p50 {dead} ms" if dead is not None else ""
        duty = cluster.get("duty_cycle_last_minute", 0.0)
        parts.append(f"{name}: {job} (duty {duty:.0%}{dead_text})")
    parts.append(f"loop lag max {status.get('event_loop_lag', {}).get('max_last_minute_ms')} ms")
    parts.append(f"subscribers {status.get('subscribers', 0)}")
    return " | ".join(parts)


def watch_daemon(client: Client, out: TextIO = sys.stdout, *, count: int | None = None) -> int:
    """Print a status line every second, ``count`` times (default: until interrupted)."""
    shown = 0
    try:
        while count is None or shown < count:
            out.write(status_line(client.status()) + "\n")
            out.flush()
            shown += 1
            if count is None or shown < count:
                time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    return 0
