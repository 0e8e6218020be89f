"""Dead time between back-to-back short jobs, through the daemon as a real process.

    .venv/bin/python -m bench.dead_time [--jobs 1000] [--clients 4] [--same] [--quick] [--json F]

Starts ``qconductor serve`` on ephemeral loopback ports with the simulated lab (no pacing),
queues ``--jobs`` short jobs (one readout of q0, 16 repetitions) from ``--clients`` clients at
once without waiting, then waits for all of them. Each job's amplitude differs, so each is
compiled (ahead, while the one before runs); ``--same`` sends one schedule throughout (every
compile after the first is a cache hit).

Dead time is taken from the jobs' own timestamps: from job N entering ``retrieving`` (its
sequencers stopped) to job N+1 entering ``running`` (its sequencers started), for every
consecutive pair where N+1 was already compiled when N stopped. Issue 6's targets: p50 <= 5 ms,
p99 <= 20 ms. The daemon's own figure (``status``: ``clusters.cluster0.dead_time_*``) is
printed beside it. The daemon process is ended by its PID when done.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.control_latency import start_daemon
from bench.machine import describe as machine
from qconductor.protocol.client import AsyncClient, JobInfo
from qconductor.protocol.schedule import Schedule, SquarePulse, SSBIntegrationComplex


def short_job(amplitude: float) -> Schedule:
    s = Schedule(name="short", repetitions=16, clocks={"q0.ro": 150e6})
    ro = s.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=amplitude, duration=1000))
    s.add(
        SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    return s


async def run(address: str, jobs: int, clients: int, same: bool) -> tuple[list[JobInfo], Any]:
    amplitudes = np.full(jobs, 0.2) if same else np.linspace(0.05, 0.45, jobs)
    schedules = [short_job(float(a)) for a in amplitudes]
    async with contextlib.AsyncExitStack() as stack:
        watcher = await stack.enter_async_context(AsyncClient(address, timeout_s=300))
        conns = [
            await stack.enter_async_context(AsyncClient(address, timeout_s=300, name=f"c{k}"))
            for k in range(clients)
        ]

        async def share(k: int) -> list[str]:
            queued = await asyncio.gather(*(conns[k].enqueue(s) for s in schedules[k::clients]))
            return [q.job_id for q in queued]

        ids = [i for part in await asyncio.gather(*map(share, range(clients))) for i in part]
        ended = await asyncio.gather(*(watcher.wait(i, timeout_s=300) for i in ids))
        return list(ended), await watcher.status()


def dead_times(ended: list[JobInfo]) -> np.ndarray:
    runs = sorted((j for j in ended if j.state == "done"), key=lambda j: j.timestamps["running"])
    gaps = [
        b.timestamps["running"] - a.timestamps["retrieving"]
        for a, b in itertools.pairwise(runs)
        if b.timestamps["compiled"] <= a.timestamps["retrieving"]
    ]
    return np.asarray(gaps) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--same", action="store_true", help="one schedule (cache hits)")
    parser.add_argument("--quick", action="store_true", help="200 jobs")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    jobs = 200 if args.quick else args.jobs
    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_daemon(Path(tmp))
        try:
            started = time.perf_counter()
            ended, status = asyncio.run(run(address, jobs, args.clients, args.same))
            wall = time.perf_counter() - started
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    states = {s: sum(j.state == s for j in ended) for s in {j.state for j in ended}}
    gaps = dead_times(ended)
    done = [j for j in ended if j.state == "done"]
    span = max(j.timestamps["done"] for j in done) - min(j.timestamps["running"] for j in done)
    p50, p99 = np.percentile(gaps, [50, 99])
    cluster = status["clusters"]["cluster0"]
    figures = {
        "jobs": jobs,
        "clients": args.clients,
        "same_schedule": args.same,
        "states": states,
        "dead_time_pairs": len(gaps),
        "dead_time_p50_ms": round(float(p50), 3),
        "dead_time_p99_ms": round(float(p99), 3),
        "dead_time_max_ms": round(float(gaps.max()), 3),
        "jobs_per_s": round(len(done) / span, 1),
        "wall_s": round(wall, 3),
        "daemon_dead_time_p50_ms": cluster.get("dead_time_p50_ms"),
        "daemon_dead_time_p99_ms": cluster.get("dead_time_p99_ms"),
        "compile": status["compile"],
        "event_loop_lag_max_ms": status["event_loop_lag"]["max_ms"],
        "machine": machine(),
    }
    print(f"daemon at {address}; {jobs} jobs from {args.clients} clients; states {states}")
    print(
        f"dead time over {len(gaps)} back-to-back pairs: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
        f"max {gaps.max():.3f} ms (daemon: p50 {cluster.get('dead_time_p50_ms')} ms, "
        f"p99 {cluster.get('dead_time_p99_ms')} ms)"
    )
    print(
        f"throughput {figures['jobs_per_s']} jobs/s; wall {wall:.2f} s; compile {status['compile']}"
    )
    print(f"event-loop lag max {figures['event_loop_lag_max_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
