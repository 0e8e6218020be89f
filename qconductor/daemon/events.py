"""Where the service's events go: the publisher port, and a no-op stand-in.

The service calls the publisher at every job state change, once per acquisition channel when a
job's acquisitions are read, and periodically with its status. The daemon plugs in the data
socket (:class:`qconductor.daemon.streams.StreamPublisher`); tests and embedded uses may leave
the :class:`NullPublisher`. Publishing never waits and never fails a job: a publisher's error
is logged and the job goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.stream import StreamMessage


class Publisher(Protocol):
    @property
    def subscriber_count(self) -> int: ...

    def publish_state(self, job_id: str, state: str, meta: Mapping[str, Any] | None = None) -> int:
        """Publish a job's new state; returns the message's sequence number."""
        ...

    def publish_acquisitions(
        self,
        job_id: str,
        channel: str | int,
        arrays: Mapping[str, np.ndarray[Any, Any]],
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        """Publish one acquisition channel of a job."""
        ...

    def publish_status(self, status: Mapping[str, Any]) -> int: ...

    def forget_job(self, job_id: str) -> None:
        """The job is gone for good (evicted): drop what is kept for it."""
        ...

    def replay(self, stream: str, from_seq: int, to_seq: int | None = None) -> list[StreamMessage]:
        """Messages of ``stream`` still kept; ``REPLAY_UNAVAILABLE`` for those that are not."""
        ...


class NullPublisher:
    """Publishes nothing, to nobody."""

    subscriber_count = 0

    def publish_state(self, job_id: str, state: str, meta: Mapping[str, Any] | None = None) -> int:
        return 0

    def publish_acquisitions(
        self,
        job_id: str,
        channel: str | int,
        arrays: Mapping[str, np.ndarray[Any, Any]],
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        return 0

    def publish_status(self, status: Mapping[str, Any]) -> int:
        return 0

    def forget_job(self, job_id: str) -> None:
        return None

    def replay(self, stream: str, from_seq: int, to_seq: int | None = None) -> list[StreamMessage]:
        raise QconductorError(
            ErrorCode.REPLAY_UNAVAILABLE, "this daemon publishes no streams", "args.stream"
        )
