"""How late the event loop runs: the daemon's own health measure.

A task asks to wake every ``interval_s`` and records how much later than asked it woke: the
time the loop was blocked (by a synchronous call, a long computation holding the GIL, or the
machine). The ``status`` verb reports the largest lag since start, the largest over the last
minute and the mean, so a stall is visible to clients, tests and operators.
"""

from __future__ import annotations

import time
from collections import deque

import anyio

WINDOW_S = 60.0


class LoopLag:
    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.max_s = 0.0
        self._total_s = 0.0
        self._samples = 0
        # (when, lag), lags decreasing: the window's maximum is the first (a monotonic queue,
        # so ``report``, asked by every status request, costs O(1))
        self._recent: deque[tuple[float, float]] = deque()

    async def run(self) -> None:
        while True:
            asked = time.monotonic()
            await anyio.sleep(self.interval_s)
            now = time.monotonic()
            self.record(max(0.0, now - asked - self.interval_s), now)

    def record(self, lag_s: float, now: float) -> None:
        self.max_s = max(self.max_s, lag_s)
        self._total_s += lag_s
        self._samples += 1
        recent = self._recent
        while recent and recent[-1][1] <= lag_s:
            recent.pop()
        recent.append((now, lag_s))
        while recent[0][0] < now - WINDOW_S:
            recent.popleft()

    def report(self) -> dict[str, float]:
        recent = self._recent[0][1] if self._recent else 0.0
        mean = self._total_s / self._samples if self._samples else 0.0
        return {
            "max_ms": round(self.max_s * 1e3, 3),
            "max_last_minute_ms": round(recent * 1e3, 3),
            "mean_ms": round(mean * 1e3, 3),
            "samples": self._samples,
        }
