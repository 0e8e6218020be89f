"""The job queue's order: priority first, then round-robin between clients.

A client is the ``client`` name a submit gives, or else the ZeroMQ identity of the connection
it came on: a script that wants one share for several connections names itself, and two
scripts never share by accident.

Round-robin works by tags: a job's tag is one more than its client's previous tag, but never
below the tag of the job dispatched last, so a client that queues a hundred jobs does not keep
a newcomer waiting behind all of them: the newcomer's first job comes after at most one job of
every other client of its priority. Equal tags keep submission order.

Priorities are integers, higher first. By default a job that waits gains one level of priority
per ``aging_s`` seconds, so low-priority work is delayed, never starved; with
``strict_priority`` a job runs only when no higher-priority job is queued.

The queue holds jobs from submission until they are dispatched to their clusters (or
cancelled, or expired); the daemon compiles waiting jobs of :meth:`JobQueue.ordered` ahead of
their turn (``pipeline_depth`` per cluster). The order is kept sorted between changes
(insertions by bisection), and sorted again only when some job's aging level changes, so a
queue of thousands costs microseconds per submission.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from qconductor.daemon.jobs import Job

_PRUNE_CLIENTS = 1024
Key = tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class _Entry:
    job: Job
    tag: int  # round-robin turn
    seq: int  # submission order
    since: float  # monotonic time it was queued


class JobQueue:
    def __init__(self, *, strict_priority: bool = False, aging_s: float = 10.0) -> None:
        self.strict_priority = strict_priority
        self.aging_s = aging_s
        self._entries: dict[str, _Entry] = {}
        self._seq = itertools.count()
        self._dispatched_tag = 0
        self._client_tag: dict[str, int] = {}
        # the sorted order, valid until the first aging step of any job
        self._order: list[_Entry] = []
        self._keys: list[Key] = []
        self._valid_until = -math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job: Job) -> bool:
        return job.id in self._entries

    def __iter__(self) -> Iterator[Job]:
        return (entry.job for entry in list(self._entries.values()))

    def push(self, job: Job, now: float) -> None:
        tag = max(self._dispatched_tag, self._client_tag.get(job.client, 0)) + 1
        self._client_tag[job.client] = tag
        entry = _Entry(job, tag, next(self._seq), now)
        self._entries[job.id] = entry
        if now < self._valid_until:
            key = self._key(entry, now)
            index = bisect.bisect_right(self._keys, key)
            self._keys.insert(index, key)
            self._order.insert(index, entry)
            self._valid_until = min(self._valid_until, self._next_step(entry, now))

    def remove(self, job: Job, now: float | None = None) -> bool:
        """Take ``job`` out (cancelled, expired, failed to compile); False if not queued."""
        entry = self._entries.pop(job.id, None)
        if entry is None:
            return False
        if now is not None and now < self._valid_until:
            index = bisect.bisect_left(self._keys, self._key(entry, now))
            del self._keys[index], self._order[index]
        else:
            self._valid_until = -math.inf
        return True

    def dispatched(self, job: Job, now: float) -> None:
        """``job`` leaves the queue for its clusters: the round-robin turn moves on."""
        entry = self._entries.get(job.id)
        if entry is None:
            return
        self.remove(job, now)
        self._dispatched_tag = max(self._dispatched_tag, entry.tag)
        if len(self._client_tag) > _PRUNE_CLIENTS:  # forget clients whose turn has passed
            self._client_tag = {
                c: t for c, t in self._client_tag.items() if t > self._dispatched_tag
            }

    def ordered(self, now: float) -> list[Job]:
        """Every queued job, the one to run first first."""
        self._sort(now)
        return [entry.job for entry in self._order]

    def position(self, job: Job, now: float) -> int | None:
        """0 for the next job; None when not queued."""
        entry = self._entries.get(job.id)
        if entry is None:
            return None
        self._sort(now)
        return bisect.bisect_left(self._keys, self._key(entry, now))

    def _sort(self, now: float) -> None:
        if now < self._valid_until:
            return
        key: Callable[[_Entry], Key] = lambda entry: self._key(entry, now)  # noqa: E731
        self._order = sorted(self._entries.values(), key=key)
        self._keys = [key(entry) for entry in self._order]
        self._valid_until = min(
            (self._next_step(entry, now) for entry in self._order), default=math.inf
        )

    def _level(self, entry: _Entry, now: float) -> int:
        if self.strict_priority:
            return entry.job.priority
        return entry.job.priority + math.floor(max(0.0, now - entry.since) / self.aging_s)

    def _key(self, entry: _Entry, now: float) -> Key:
        return (-self._level(entry, now), entry.tag, entry.seq)

    def _next_step(self, entry: _Entry, now: float) -> float:
        """When the entry's aging level next changes."""
        if self.strict_priority:
            return math.inf
        steps = math.floor(max(0.0, now - entry.since) / self.aging_s) + 1
        return entry.since + steps * self.aging_s
