"""Control-socket round trip and throughput against the daemon as a real process.

    .venv/bin/python -m bench.control_latency [--requests 5000] [--clients 50] [--seconds 5]

Starts ``qconductor serve`` on an ephemeral loopback port with the simulated lab, then measures
(1) the round trip of the ``status`` verb for one client sending requests one after another
(p50, p99, max) and (2) requests per second with N clients each keeping one request in flight.
Issue 6's targets: p50 <= 250 µs, p99 <= 1 ms with one client; >= 5000 requests/s with 50.
The daemon process is ended by its PID when done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq
import zmq.asyncio

from qconductor.protocol.codec import decode, encode
from qconductor.protocol.messages import StatusArgs, request_message

ROOT = Path(__file__).resolve().parents[1]


def start_daemon(tmp: Path, extra: str = "") -> tuple[subprocess.Popen[str], str]:
    """``qconductor serve`` on ephemeral loopback ports with the simulated lab; ``extra`` is
    appended to its TOML config."""
    config = tmp / "qconductor.toml"
    config.write_text(
        f"""
[control]
bind = "tcp://127.0.0.1:0"
[streams]
bind = "tcp://127.0.0.1:0"
[hardware]
config = "{ROOT / "config" / "hardware" / "default.json"}"
[[clusters]]
name = "cluster0"
mode = "simulated"
lab = "{ROOT / "config" / "labs" / "default.toml"}"
[log]
format = "json"
level = "warning"
{extra}
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "qconductor", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if " listening on " in line:
            return proc, line.split(" listening on ")[1].split()[0]
    proc.kill()
    raise RuntimeError("the daemon did not start")


async def round_trips(address: str, count: int) -> np.ndarray:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    frames = encode(request_message(0, StatusArgs()))
    times = np.empty(count)
    try:
        for k in range(-50, count):  # 50 warm-up requests
            t = time.perf_counter()
            await sock.send_multipart(frames)
            reply = decode(await sock.recv_multipart())
            if k >= 0:
                times[k] = time.perf_counter() - t
            assert reply["ok"], reply
    finally:
        sock.close()
        ctx.term()
    return times


async def throughput(address: str, clients: int, seconds: float) -> float:
    ctx = zmq.asyncio.Context()
    frames = encode(request_message(0, StatusArgs()))
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        try:
            while time.perf_counter() < deadline:
                await sock.send_multipart(frames)
                await sock.recv_multipart()
                done += 1
        finally:
            sock.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    ctx.term()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_daemon(Path(tmp))
        try:
            times = asyncio.run(round_trips(address, args.requests)) * 1e6
            rate = asyncio.run(throughput(address, args.clients, args.seconds))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    p50, p99 = np.percentile(times, [50, 99])
    print(f"daemon at {address}; status verb")
    print(
        f"one client, {args.requests} sequential round trips: p50 {p50:.0f} µs, "
        f"p99 {p99:.0f} µs, max {times.max():.0f} µs"
    )
    print(f"{args.clients} clients for {args.seconds:.0f} s: {rate:,.0f} requests/s")


if __name__ == "__main__":
    main()
