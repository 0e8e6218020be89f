"""The loop-lag monitor: what it reports, and that it sees a blocked loop."""

from __future__ import annotations

import time

import anyio
import pytest

from qconductor.daemon.looplag import LoopLag


def test_report_keeps_the_maximum_and_forgets_old_samples() -> None:
    lag = LoopLag()
    lag.record(0.030, now=0.0)
    lag.record(0.001, now=100.0)
    report = lag.report()
    assert report["max_ms"] == 30.0
    assert report["max_last_minute_ms"] == 1.0  # the 30 ms sample is older than a minute
    assert report["samples"] == 2


@pytest.mark.anyio
async def test_a_blocked_loop_is_measured() -> None:
    lag = LoopLag(interval_s=0.01)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lag.run)
        await anyio.sleep(0.02)
        time.sleep(0.1)  # block the loop on purpose  # noqa: ASYNC251
        await anyio.sleep(0.03)
        tg.cancel_scope.cancel()
    assert lag.report()["max_ms"] >= 60


def test_the_last_minute_maximum_follows_the_window() -> None:
    lag = LoopLag()
    for t, ms in ((0.0, 5.0), (10.0, 9.0), (20.0, 2.0), (30.0, 7.0)):
        lag.record(ms / 1e3, now=t)
    assert lag.report()["max_last_minute_ms"] == 9.0
    lag.record(0.001, now=75.0)  # the 9 ms sample (t = 10) leaves the window
    assert lag.report()["max_last_minute_ms"] == 7.0
    lag.record(0.001, now=95.0)  # so does the 7 ms one (t = 30)
    assert lag.report()["max_last_minute_ms"] == 1.0
    assert lag.report()["max_ms"] == 9.0
