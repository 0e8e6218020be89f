"""Start the daemon as a real process on an ephemeral loopback port, and end it by its PID."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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
) -> Path:
    cluster = f'mode = "{mode}"' + (f'\nlab = "{DEFAULT_LAB}"' if mode == "simulated" else "")
    cluster += "\npacing = true" if pacing else ""
    path = tmp / "qconductor.toml"
    path.write_text(
        f"""
[control]
bind = "tcp://127.0.0.1:0"

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
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def start_daemon(
    config: Path, *, timeout_s: float = 30.0, env: dict[str, str] | None = None
) -> DaemonProcess:
    """Run ``python -m qconductor serve`` and wait (with a deadline) for its listening line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qconductor", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=config.parent,  # a stray file written by the driver would land here, not in the repo
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
                return DaemonProcess(proc, address, lines)
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise RuntimeError(f"daemon did not start: stdout={lines!r} stderr={err[-4000:]}")
