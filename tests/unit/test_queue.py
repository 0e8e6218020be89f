"""The queue's order: priority, round-robin between clients, aging, and the kept-sorted order
agreeing with a plain sort after any sequence of changes."""

from __future__ import annotations

import random

import pytest

from qconductor.daemon.jobs import Job
from qconductor.daemon.queue import JobQueue


def job(name: str, client: str = "a", priority: int = 0) -> Job:
    return Job(id=name, client=client, priority=priority)


def names(queue: JobQueue, now: float = 0.0) -> list[str]:
    return [j.id for j in queue.ordered(now)]


def test_higher_priority_first_then_submission_order() -> None:
    queue = JobQueue(strict_priority=True)
    for j in (job("low1"), job("high", priority=3), job("low2"), job("mid", priority=1)):
        queue.push(j, 0.0)
    assert names(queue) == ["high", "mid", "low1", "low2"]


def test_clients_take_turns_at_equal_priority() -> None:
    queue = JobQueue()
    for k in range(4):
        queue.push(job(f"a{k}", "a"), 0.0)
    queue.push(job("b0", "b"), 0.0)
    queue.push(job("b1", "b"), 0.0)
    queue.push(job("c0", "c"), 0.0)
    assert names(queue) == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]


def test_a_newcomer_waits_one_turn_not_behind_the_backlog() -> None:
    queue = JobQueue()
    backlog = [job(f"a{k}", "a") for k in range(10)]
    for j in backlog:
        queue.push(j, 0.0)
    for j in backlog[:3]:  # three of a's jobs ran
        queue.dispatched(j, 0.0)
    queue.push(job("b0", "b"), 0.0)
    assert names(queue)[:3] == ["a3", "b0", "a4"]
    assert queue.position(backlog[3], 0.0) == 0
    assert len(queue) == 8


def test_waiting_jobs_age_unless_priority_is_strict() -> None:
    for strict, later, first in (
        (False, 25.0, "old-low"),  # two aging steps beat one level
        (False, 4.0, "new-high"),  # before the first aging step
        (True, 25.0, "new-high"),
    ):
        queue = JobQueue(strict_priority=strict, aging_s=10.0)
        queue.push(job("old-low", "a", priority=0), 0.0)
        queue.push(job("new-high", "b", priority=1), later)
        assert names(queue, later + 1.0)[0] == first


def test_remove_and_membership() -> None:
    queue = JobQueue()
    a, b = job("a"), job("b")
    queue.push(a, 0.0)
    queue.push(b, 0.0)
    assert queue.remove(a)
    assert not queue.remove(a)
    assert a not in queue
    assert b in queue
    assert queue.position(a, 0.0) is None
    assert names(queue) == ["b"]


@pytest.mark.parametrize("seed", range(5))
def test_the_kept_order_is_always_a_plain_sort(seed: int) -> None:
    rng = random.Random(seed)
    queue = JobQueue(strict_priority=False, aging_s=3.0)
    reference = JobQueue(strict_priority=False, aging_s=3.0)
    now, count = 0.0, 0
    for _ in range(400):
        now += rng.random()
        action = rng.random()
        present = list(queue)
        if action < 0.5 or not present:
            count += 1
            made = job(f"j{count}", rng.choice("abc"), rng.choice((0, 0, 1, 2)))
            queue.push(made, now)
            reference.push(made, now)
        elif action < 0.75:
            victim = rng.choice(present)
            queue.dispatched(victim, now)
            reference.dispatched(victim, now)
        else:
            victim = rng.choice(present)
            queue.remove(victim, now)
            reference.remove(victim)  # drops the kept order: the next ordered() sorts anew
        expected = reference.ordered(now)
        reference._valid_until = float("-inf")  # always sort the reference from scratch
        assert queue.ordered(now) == reference.ordered(now) == expected
        if expected:
            probe = rng.choice(expected)
            assert queue.position(probe, now) == expected.index(probe)
