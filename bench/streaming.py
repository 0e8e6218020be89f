"""Acquisition streaming: throughput to one and to four subscribers, and every gap detected.

    .venv/bin/python -m bench.streaming [--quick] [--transports tcp,ipc] [--messages N]
        [--rate MB/s ...] [--sndhwm N] [--rcvhwm N] [--io-threads N] [--json FILE]

The publisher (:class:`~qconductor.daemon.streams.StreamPublisher`, on an ephemeral loopback
port or an ipc socket in a temporary directory) runs in this process's event loop; each
subscriber (:class:`~qconductor.protocol.stream.Subscriber`) is a separate Python process, so
the GIL is not shared, started here and ended by its PID. Every message is one 800 kB frame
(50,000 complex128) whose first sample carries the sequence number, which each subscriber
checks.

Cases, per transport: one subscriber, four subscribers, and one fast beside one slow (the slow
one sleeps 10 ms after each message so ZeroMQ drops for it). The publisher publishes at a fixed
offered rate (1000 and 1500 MB/s to one, 250 and 400 MB/s to four; ``--rate`` replaces them)
and as fast as the event loop lets it (``flat out``, where drops are expected). A
subscriber's throughput is its received bytes over the time from its first to its last
message. "gaps ok" means the gaps it detected (sequence jumps and heartbeats) plus the messages
it received are exactly 1..N, each once. Issue targets: >= 1 GB/s to one subscriber,
>= 250 MB/s each to four; every gap detected.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import numpy as np

from bench.machine import describe
from qconductor.daemon.streams import DEFAULT_IO_THREADS, DEFAULT_SNDHWM, StreamPublisher
from qconductor.protocol.stream import (
    DEFAULT_RCVHWM,
    StreamMessage,
    Subscriber,
    acq_stream,
    job_prefix,
)

ROOT = Path(__file__).resolve().parents[1]
JOB = "bench"
STREAM = acq_stream(JOB, 0)
SAMPLES = 50_000  # complex128: 800,000 bytes per frame
HEARTBEAT_S = 0.05
SUBSCRIBER_TIMEOUT_S = 120.0


# --- the subscriber process -------------------------------------------------------------------
async def _subscribe(address: str, count: int, delay_s: float, rcvhwm: int) -> dict[str, Any]:
    received: list[int] = []
    nbytes = 0
    bad = 0
    first = last = 0.0
    async with Subscriber(address, rcvhwm=rcvhwm) as sub:
        sub.subscribe(job_prefix(JOB))
        while (sub.last_seq(STREAM) or 0) < count:
            event = await sub.recv_event()
            if not isinstance(event, StreamMessage):
                continue  # a heartbeat: the subscriber recorded what it revealed
            now = time.perf_counter()
            first = first or now
            last = now
            samples = event.arrays["x"]
            nbytes += samples.nbytes
            bad += int(samples[0].real != event.seq)
            received.append(event.seq)
            if delay_s:
                await anyio.sleep(delay_s)
        gaps = [(g.first_missing, g.last_missing) for g in sub.gaps]
    seen = sorted(received + [s for a, b in gaps for s in range(a, b + 1)])
    return {
        "received": len(received),
        "bytes": nbytes,
        "seconds": last - first,
        "gaps": len(gaps),
        "first_gaps": gaps[:20],
        "missing_detected": sum(b - a + 1 for a, b in gaps),
        "accounted": seen == list(range(1, count + 1)),
        "in_order": received == sorted(received),
        "bad_content": bad,
    }


def subscriber_main(spec: str) -> None:
    args = json.loads(spec)
    result = anyio.run(_subscribe, args["address"], args["count"], args["delay_s"], args["rcvhwm"])
    print(json.dumps(result), flush=True)


# --- the publisher side -----------------------------------------------------------------------
@dataclass
class Case:
    transport: str
    subscribers: int
    slow: int  # how many of them sleep after each message
    rate_mb_s: float | None  # offered rate; None = flat out
    sndhwm: int = DEFAULT_SNDHWM
    rcvhwm: int = DEFAULT_RCVHWM
    io_threads: int = DEFAULT_IO_THREADS


def _spawn(address: str, count: int, delay_s: float, rcvhwm: int) -> subprocess.Popen[str]:
    spec = json.dumps({"address": address, "count": count, "delay_s": delay_s, "rcvhwm": rcvhwm})
    return subprocess.Popen(
        [sys.executable, "-m", "bench.streaming", "--subscriber", spec],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


async def _wait(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, _ = await anyio.to_thread.run_sync(
            functools.partial(proc.communicate, timeout=SUBSCRIBER_TIMEOUT_S)
        )
    finally:
        if proc.poll() is None:
            proc.kill()  # Popen.kill signals this child's own PID
            proc.wait(10)
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"subscriber {proc.pid} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def run_case(case: Case, count: int, tmp: Path) -> dict[str, Any]:
    bind = "tcp://127.0.0.1:0" if case.transport == "tcp" else f"ipc://{tmp}/data-{id(case)}"
    publisher = StreamPublisher(
        bind, heartbeat_s=HEARTBEAT_S, sndhwm=case.sndhwm, io_threads=case.io_threads
    )
    rng = np.random.default_rng(1)
    template = rng.standard_normal(SAMPLES) + 1j * rng.standard_normal(SAMPLES)
    size = template.nbytes
    procs: list[subprocess.Popen[str]] = []
    try:
        async with anyio.create_task_group() as tg:
            address = await tg.start(publisher.run)
            for k in range(case.subscribers):
                delay_s = 0.01 if k < case.slow else 0.0
                procs.append(_spawn(address, count, delay_s, case.rcvhwm))
            with anyio.fail_after(30):
                await publisher.wait_subscribers(case.subscribers)
                await publisher.wait_subscribers(case.subscribers, topic=job_prefix(JOB))
            publish_s: list[float] = []
            start = time.perf_counter()
            for seq in range(1, count + 1):
                frame = template.copy()  # a fresh array, as each acquisition is
                frame[0] = seq
                if case.rate_mb_s is not None:
                    due = start + (seq - 1) * size / (case.rate_mb_s * 1e6)
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await anyio.sleep(delay)
                t = time.perf_counter()
                publisher.publish(STREAM, {"seq": seq}, {"x": frame})
                publish_s.append(time.perf_counter() - t)
                await anyio.lowlevel.checkpoint()  # let heartbeats and subscription tracking run
            offered_s = time.perf_counter() - start
            results = [await _wait(p) for p in procs]
            tg.cancel_scope.cancel()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    times = np.array(publish_s) * 1e6
    return {
        "case": case,
        "offered_mb_s": count * size / offered_s / 1e6,
        "publish_us": (float(np.median(times)), float(np.percentile(times, 99)), times.max()),
        "results": results,
        "buffered_mb": publisher.buffered_bytes / 1e6,
    }


def _rows(outcome: dict[str, Any]) -> list[str]:
    """One row per kind of subscriber (fast, slow) of a case; ranges over the subscribers."""
    case: Case = outcome["case"]
    p50, p99, pmax = outcome["publish_us"]
    rows = []
    for kind in ("fast", "slow"):
        results = [
            r for k, r in enumerate(outcome["results"]) if (k < case.slow) == (kind == "slow")
        ]
        if not results:
            continue
        rates = [r["bytes"] / r["seconds"] / 1e6 if r["seconds"] > 0 else 0.0 for r in results]
        received = [r["received"] for r in results]
        missing = sum(r["missing_detected"] for r in results)
        gaps = sum(r["gaps"] for r in results)
        ok = all(r["accounted"] and r["in_order"] and r["bad_content"] == 0 for r in results)
        offered = "flat out" if case.rate_mb_s is None else f"{case.rate_mb_s:,.0f}"
        rows.append(
            f"| {case.transport} | {case.subscribers} | {offered} | "
            f"{outcome['offered_mb_s']:,.0f} | {len(results)} {kind} | "
            f"{_span(received)} | {_span(rates, ',.0f')} | {missing} in {gaps} | "
            f"{'yes' if ok else 'NO'} | {p50:.0f} / {p99:.0f} / {pmax:.0f} |"
        )
    return rows


def _span(values: list[int] | list[float], fmt: str = "") -> str:
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low} – {high}"


def _cases(
    transports: list[str], rates: list[float] | None, sndhwm: int, rcvhwm: int, io_threads: int
) -> list[Case]:
    """The default plan: one subscriber around 1 GB/s, four around 250 MB/s, each also flat
    out, and a slow subscriber beside a fast one; ``--rate`` replaces the offered rates."""
    cases: list[Case] = []
    for transport in transports:
        plan: list[tuple[int, int, float | None]] = [
            (1, 0, 1000.0),
            (1, 0, 1500.0),
            (1, 0, None),
            (4, 0, 250.0),
            (4, 0, 400.0),
            (4, 0, None),
            (2, 1, 250.0),
        ]
        if rates:
            plan = [(n, slow, r) for n, slow in ((1, 0), (4, 0), (2, 1)) for r in rates]
        cases.extend(
            Case(transport, n, slow, rate, sndhwm, rcvhwm, io_threads) for n, slow, rate in plan
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 messages per case, tcp only")
    parser.add_argument("--messages", type=int, default=2000, help="messages per case")
    parser.add_argument("--transports", default="tcp,ipc", help="comma-separated: tcp, ipc")
    parser.add_argument("--rate", type=float, action="append", help="offered MB/s (repeatable)")
    parser.add_argument("--sndhwm", type=int, default=DEFAULT_SNDHWM, help="publisher queue")
    parser.add_argument("--rcvhwm", type=int, default=DEFAULT_RCVHWM, help="subscriber queue")
    parser.add_argument(
        "--io-threads", type=int, default=DEFAULT_IO_THREADS, help="publisher's ZeroMQ I/O threads"
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--subscriber", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber_main(args.subscriber)
        return
    count = 200 if args.quick else args.messages
    transports = ["tcp"] if args.quick else args.transports.split(",")
    cases = _cases(transports, args.rate, args.sndhwm, args.rcvhwm, args.io_threads)
    print("machine:", json.dumps(describe()))
    print(f"{count} messages of {SAMPLES * 16:,} bytes per case; ", end="")
    print(f"sndhwm {args.sndhwm}, rcvhwm {args.rcvhwm} (messages), {args.io_threads} I/O threads\n")
    print(
        "| transport | subscribers | offered MB/s | published MB/s | subscribers | received "
        "| MB/s each | missing detected (gaps) | gaps ok | publish µs p50 / p99 / max |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---|---|")
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            outcome = anyio.run(run_case, case, count, Path(tmp))
            outcomes.append(outcome)
            for row in _rows(outcome):
                print(row, flush=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": describe(),
                    "messages": count,
                    "outcomes": [
                        {**o, "case": o["case"].__dict__, "publish_us": list(o["publish_us"])}
                        for o in outcomes
                    ],
                },
                default=float,
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
