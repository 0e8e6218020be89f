"""systemd's notify protocol, with a datagram socket standing in for systemd."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from qconductor.daemon.systemd import Notifier
from tests.integration.daemon_process import start_daemon, write_config

pytestmark = pytest.mark.timeout(60)


def _receive(sock: socket.socket, until: str, limit: int = 50) -> list[str]:
    seen: list[str] = []
    for _ in range(limit):
        message = sock.recv(4096).decode()
        seen.append(message)
        if until in message:
            return seen
    raise AssertionError(f"no {until!r} among {seen}")


def test_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(20)
        daemon = start_daemon(
            write_config(tmp_path),
            env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "300000"},
        )
        try:
            first = _receive(sock, "READY=1")
            assert f"STATUS=listening on {daemon.address}" in first[-1]
            pings = [m for m in _receive(sock, "WATCHDOG=1") if m == "WATCHDOG=1"]
            pings += [m for m in _receive(sock, "WATCHDOG=1") if m == "WATCHDOG=1"]
            assert len(pings) >= 2  # keep-alives keep coming from the running loop
        finally:
            assert daemon.stop(signal.SIGTERM) == 0
        assert "STOPPING=1" in _receive(sock, "STOPPING=1")


def test_notifier_is_inert_without_systemd_and_parses_its_environment() -> None:
    off = Notifier({})
    assert not off.enabled
    off.ready("x")  # nothing to send to: no error
    on = Notifier({"NOTIFY_SOCKET": "@abstract", "WATCHDOG_USEC": "2000000"})
    assert on.enabled
    assert on.watchdog_s == 2.0
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None  # the watchdog is for another process
