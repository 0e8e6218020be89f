"""Dead time and duty cycle of a cluster, from the moments its runs start and end."""

from __future__ import annotations

import pytest

from qconductor.daemon.metrics import ClusterMetrics


def test_dead_time_counts_only_jobs_that_were_waiting() -> None:
    m = ClusterMetrics()
    m.run_started(10.0, ready_at=None)  # the first job: no gap before it
    m.run_ended(11.0)
    m.run_started(11.002, ready_at=10.5)  # compiled and queued before 11.0: a dead time
    m.run_ended(12.0)
    m.run_started(20.0, ready_at=15.0)  # arrived after 12.0: the cluster was idle
    m.run_ended(21.0)
    m.run_started(21.004, ready_at=None)  # driven by the verbs: the gap is the client's
    assert list(m.dead_times) == [pytest.approx(0.002)]
    report = m.report(now=21.5)
    assert report["runs"] == 4
    assert report["dead_time_samples"] == 1
    assert report["dead_time_p50_ms"] == pytest.approx(2.0)
    assert report["dead_time_last_ms"] == pytest.approx(2.0)


def test_duty_cycle_is_the_running_share_of_the_last_minute() -> None:
    m = ClusterMetrics()
    assert m.duty_cycle(now=100.0) == 0.0
    m.run_started(0.0, ready_at=None)  # mostly older than the window
    m.run_ended(50.0)
    m.run_started(70.0, ready_at=None)
    m.run_ended(85.0)
    m.run_started(95.0, ready_at=None)  # still running
    # window [40, 100]: 10 s + 15 s + 5 s of 60 s
    assert m.duty_cycle(now=100.0) == pytest.approx(0.5)


def test_percentiles_follow_new_samples() -> None:
    m = ClusterMetrics()
    m.run_started(0.0, ready_at=None)
    end = 1.0
    m.run_ended(end)
    for gap in (0.001, 0.003, 0.002):
        m.run_started(end + gap, ready_at=end)
        end += gap + 1.0
        m.run_ended(end)
        p50 = m.report(now=end)["dead_time_p50_ms"]
    assert p50 == pytest.approx(2.0)
