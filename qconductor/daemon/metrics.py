"""How well a cluster is kept busy: dead time between jobs and duty cycle.

*Dead time* is the gap from the moment job N's sequencers stopped to the moment job N+1's
started, counted only when N+1 was already compiled and waiting when N stopped: a cluster that
waits for clients to send work is idle, not slow. *Duty cycle* is the fraction of the last
minute the cluster's sequencers were running. Both come from the jobs' own timestamps (wall
clock, as clients see them).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np

WINDOW_S = 60.0
SAMPLES = 1000


class ClusterMetrics:
    def __init__(self) -> None:
        self.dead_times: deque[float] = deque(maxlen=SAMPLES)  # seconds
        self._runs: deque[tuple[float, float]] = deque()  # (start, end) of recent runs
        self._running_since: float | None = None
        self._last_end: float | None = None
        self.runs = 0
        self.gaps = 0  # dead-time samples ever taken
        self._percentiles: tuple[int, float, float] = (0, 0.0, 0.0)  # (samples seen, p50, p99)

    def run_started(self, at: float, *, ready_at: float | None) -> None:
        """A job's sequencers started at ``at``; it was ready to go (compiled, queued) since
        ``ready_at`` (None: driven by the verbs, so the gap is the client's)."""
        last = self._last_end
        if last is not None and ready_at is not None and ready_at <= last:
            self.dead_times.append(max(0.0, at - last))
            self.gaps += 1
        self._running_since = at
        self.runs += 1

    def run_ended(self, at: float) -> None:
        since, self._running_since = self._running_since, None
        if since is not None:
            self._runs.append((since, at))
        self._last_end = at
        while self._runs and self._runs[0][1] < at - WINDOW_S:
            self._runs.popleft()

    def duty_cycle(self, now: float) -> float:
        start = now - WINDOW_S
        busy = sum(min(end, now) - max(begin, start) for begin, end in self._runs if end > start)
        if self._running_since is not None:
            busy += now - max(self._running_since, start)
        return round(min(1.0, busy / WINDOW_S), 4)

    def report(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        out: dict[str, Any] = {
            "runs": self.runs,
            "duty_cycle_last_minute": self.duty_cycle(now),
            "dead_time_samples": len(self.dead_times),
        }
        if self.dead_times:
            if self._percentiles[0] != self.gaps:  # status is asked often: sort only if new
                p50, p99 = np.percentile(np.fromiter(self.dead_times, float), [50, 99])
                self._percentiles = (self.gaps, float(p50), float(p99))
            out |= {
                "dead_time_last_ms": round(self.dead_times[-1] * 1e3, 3),
                "dead_time_p50_ms": round(self._percentiles[1] * 1e3, 3),
                "dead_time_p99_ms": round(self._percentiles[2] * 1e3, 3),
            }
        return out
