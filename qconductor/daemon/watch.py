"""``qconductor watch``: follow a job, or the daemon, from the command line.

``watch JOB_ID`` long-polls the ``wait`` verb (it answers at once when the job ends, else
after a short while with the job as it is) and shows the job's progress: the state, the queue
position while it waits in the queue (compiled or not), and for a running job a bar of elapsed
against expected time (the compiled job knows its duration) with the repetitions that makes.
On a terminal one line is kept up to date; into a pipe or a file a line is written at each new
state or place in the queue and at every tenth of a running job's progress. It exits when the
job ends: 0 for ``done`` (with the time it took and the time it ran), 1 for ``failed`` (with
the phase, the error and the flags its sequencers raised) or ``cancelled`` (with the reason);
130 when interrupted, which leaves the job alone. ``watch`` alone prints one status line a
second: queue depth and, per cluster, its job, duty cycle and dead time.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from qconductor.protocol.client import Client, JobInfo

POLL_S = 0.25
BAR = 24


class Waits(Protocol):
    """What ``watch JOB_ID`` needs of a client: :meth:`Client.wait`."""

    def wait(self, job_id: str, *, timeout_s: float | None = None) -> JobInfo: ...


def progress_line(info: JobInfo) -> str:
    """One line about a job as the daemon described it."""
    head = f"job {info.job_id} {info.state}"
    raw = info.raw
    if raw.get("queue_position") is not None:
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
        line = f"{head}{where}: [{error.get('code')}] {error.get('message')}"
        flags = "; ".join(
            f"{cluster}.{sequencer} {', '.join(raised)}"
            for cluster, sequencers in sorted(info.flags.items())
            for sequencer, raised in sorted(sequencers.items())
        )
        return f"{line} (flags: {flags})" if flags else line
    if info.ended:
        stamps = info.timestamps
        took = max(stamps.values()) - min(stamps.values()) if stamps else 0.0
        line = f"{head} in {took:.3f} s"
        if "running" in stamps and "retrieving" in stamps:
            line += f" (ran {stamps['retrieving'] - stamps['running']:.3f} s)"
        return line
    return head


def _milestone(info: JobInfo) -> tuple[str, int | None, int]:
    """What a line written into a file marks: the state, the place in the queue, and the
    tenth of the progress."""
    progress = info.raw.get("progress")
    tenth = int(float(progress["fraction"]) * 10) if info.state == "running" and progress else 0
    return info.state, info.raw.get("queue_position"), tenth


def watch_job(client: Waits, job_id: str, out: TextIO = sys.stdout) -> int:
    live = out.isatty()
    last = ""
    marked: tuple[str, int | None, int] | None = None
    try:
        while True:
            info = client.wait(job_id, timeout_s=POLL_S)
            line = progress_line(info)
            if live:
                out.write(f"\r{line:<{len(last)}}")
            elif _milestone(info) != marked:  # a new state or place, or another tenth done
                out.write(line + "\n")
                marked = _milestone(info)
            out.flush()
            last = line
            if info.ended:
                if live:
                    out.write("\n")
                return 0 if info.state == "done" else 1
    except KeyboardInterrupt:
        if live:
            out.write("\n")
        out.write(f"stopped watching job {job_id}; it goes on (qconductor cancel {job_id})\n")
        return 130


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
