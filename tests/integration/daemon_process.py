"""Start the daemon as a real process on an ephemeral loopback port, and end it by its PID."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HARDWARE = ROOT / "config" / "hardware" / "default.json"


DEFAULT_LAB = ROOT / "config" / "labs" / "default.toml"


def write_config(
    tmp: Path,
    *,
    hardware: Path = DEFAULT_HARDWARE,
    extra: str = "",
    mode: str = "dummy",
    pacing: bool = False,
    cluster_extra: str = "",
    status_interval_s: float = 1.0,
) -> Path:
    """A daemon config on ephemeral loopback ports; ``extra`` is appended (whole tables),
    ``cluster_extra`` goes into the cluster's table (e.g. its test-only ``faults``)."""
    cluster = f'mode = "{mode}"' + (f'\nlab = "{DEFAULT_LAB}"' if mode == "simulated" else "")
    cluster += "\npacing = true" if pacing else ""
    cluster += f"\n{cluster_extra}" if cluster_extra else ""
    path = tmp / "qconductor.toml"
    path.write_text(
        f"""
[control]
bind = "tcp://127.0.0.1:0"

[streams]
bind = "tcp://127.0.0.1:0"
status_interval_s = {status_interval_s}

[hardware]
config = "{hardware}"

[[clusters]]
name = "cluster0"
{cluster}

[log]
format = "json"
level = "info"
{extra}
"""
    )
    return path


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[str]
    address: str
    data_address: str
    log_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
        return self.proc.returncode

    def stderr(self) -> str:
        """What the daemon logged so far (a file, not a pipe: a full pipe would block it)."""
        return self.log_path.read_text()

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (``[log] format = "json"``) as dicts."""
        records = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records


LOOP_LAG_LIMIT_MS = 50.0  # issue 6: a test fails if the daemon's event loop stalls longer


def assert_loop_never_stalled(status: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The daemon's own loop-lag monitor (``status`` verb, ``event_loop_lag``): never more
    than ``LOOP_LAG_LIMIT_MS`` late since it started. A stall shows when the monitor next
    wakes (every 50 ms), so wait for two more samples first (at most 5 s)."""
    first = status()["event_loop_lag"]["samples"]
    deadline = time.monotonic() + 5.0
    while (lag := status()["event_loop_lag"])["samples"] < first + 2:
        assert time.monotonic() < deadline, f"the loop-lag monitor stopped sampling: {lag}"
        time.sleep(0.02)
    assert lag["max_ms"] < LOOP_LAG_LIMIT_MS, f"the daemon's event loop stalled: {lag}"
    return dict(lag)


def start_daemon(
    config: Path, *, timeout_s: float = 30.0, env: dict[str, str] | None = None
) -> DaemonProcess:
    """Run ``python -m qconductor serve`` and wait (with a deadline) for its listening line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    log_path = config.parent / f"daemon-{time.monotonic_ns()}.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qconductor", "serve", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=env,
            cwd=config.parent,  # a stray file the driver writes lands here, not in the repo
        )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if " listening on " in line:
                address = line.split(" listening on ")[1].split()[0]
                data = line.split(" publishing on ")[1].split()[0]
                return DaemonProcess(proc, address, data, log_path, lines)
    proc.kill()
    proc.communicate(timeout=10)
    err = log_path.read_text()
    raise RuntimeError(f"daemon did not start: stdout={lines!r} stderr={err[-4000:]}")
