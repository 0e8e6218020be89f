"""systemd's notify protocol: readiness, watchdog keep-alives and stopping, from the event loop.

With ``Type=notify`` systemd sets ``NOTIFY_SOCKET`` and waits for ``READY=1``; with
``WatchdogSec`` it sets ``WATCHDOG_USEC`` and restarts the service when no ``WATCHDOG=1``
arrives in time. The keep-alives are sent by a task on the daemon's own event loop, so a loop
that stalls (a blocking call, a deadlock) stops them and systemd restarts the daemon: the
watchdog watches the thing that matters. Without ``NOTIFY_SOCKET`` every call does nothing.
"""

from __future__ import annotations

import os
import socket

import anyio
import structlog

log = structlog.get_logger("qconductor.systemd")


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        self._address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        own = not pid or pid == str(os.getpid())
        self.watchdog_s: float | None = int(usec) / 1e6 if usec.isdigit() and own else None
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, message: str) -> None:
        """Send one notification; a failure is logged, never raised (systemd may be gone)."""
        if self._address is None:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("systemd notification failed", message=message, error=str(exc))

    def ready(self, status: str) -> None:
        self.notify(f"READY=1\nSTATUS={status}")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    async def watchdog(self) -> None:
        """Ping at a third of the watchdog interval for as long as the loop runs."""
        if self.watchdog_s is None or not self.enabled:
            return
        period = self.watchdog_s / 3
        log.info("systemd watchdog", interval_s=self.watchdog_s)
        while True:
            self.notify("WATCHDOG=1")
            await anyio.sleep(period)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
