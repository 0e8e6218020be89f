"""The data socket: acquisitions, job states and status published as they happen, and replayed.

:class:`StreamPublisher` owns one XPUB socket (the wire format is
:mod:`qconductor.protocol.stream`). :meth:`StreamPublisher.publish` runs on the event loop and
never waits: it numbers the message in its stream, hands the frames to ZeroMQ without copying
them (``NOBLOCK``; ZeroMQ's I/O thread does the sending) and keeps the message for replay.

A subscriber that does not keep up never slows the pipeline or the other subscribers: ZeroMQ
queues at most ``sndhwm`` messages per subscriber and drops the rest *for that subscriber only*.
The publisher cannot see those drops; the subscriber sees them as gaps in the sequence numbers
(or in the heartbeat's last sequence numbers) and asks for them with the control socket's replay
verb, answered by :meth:`StreamPublisher.replay` from the replay buffer. The same holds for a
burst: more than ``sndhwm`` messages published faster than ZeroMQ's I/O thread sends them (one
synchronous loop of ``publish`` calls) overflow *every* subscriber's queue, and every subscriber
then replays the rest. The default (64) covers a job's acquisition channels and state changes.

Memory is bounded:

- the replay buffer keeps at most ``buffer_bytes_per_job`` bytes per job (oldest messages
  evicted first) for at most ``max_jobs_buffered`` jobs (the least recently published evicted
  first; the ``status`` stream counts as one job): defaults 64 MiB x 8;
- ZeroMQ queues at most ``sndhwm`` messages per subscriber (default 64: 51 MB of 800 kB
  frames), plus what the kernel's socket buffer holds. The queued frames are the buffer's own
  memory (zero-copy) while the message is still buffered; an evicted message lives on until
  every queue has sent or dropped it;
- per-stream sequence counters: the ``MAX_TRACKED_STREAMS`` most recently published streams
  (a stream evicted from there would start again at 1); :meth:`forget_job` drops a job's at once.

So the worst case is ``buffer_bytes_per_job * max_jobs_buffered + subscribers * sndhwm *
largest message``. Arrays given to ``publish`` are sent and kept without a copy when they are
C-contiguous: the caller must not modify them afterwards.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import anyio
import numpy as np
import structlog
import zmq
import zmq.asyncio
from anyio.abc import TaskStatus

from qconductor.protocol.codec import Frame
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.stream import (
    HEARTBEAT_TOPIC,
    STATUS_STREAM,
    Heartbeat,
    StreamMessage,
    acq_stream,
    check_stream_name,
    job_of,
    job_prefix,
    state_stream,
)

log = structlog.get_logger("qconductor.streams")

DEFAULT_SNDHWM = 64
DEFAULT_BUFFER_BYTES_PER_JOB = 64 * 2**20
DEFAULT_MAX_JOBS_BUFFERED = 8
DEFAULT_HEARTBEAT_STREAMS = 256
# ZeroMQ I/O threads of the publisher's own context: one thread copying to four subscribers
# was the bottleneck of the streaming benchmark (bench/README.md, "Streaming").
DEFAULT_IO_THREADS = 2
MAX_TRACKED_STREAMS = 10_000

StatusSource = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]


def _group(stream: str) -> str:
    """The replay buffer a stream belongs to: its job's, or its own (``status``)."""
    job = job_of(stream)
    return job_prefix(job) if job else stream


class _JobBuffer:
    """One job's messages, oldest first, and per stream (each stream's seqs contiguous)."""

    def __init__(self) -> None:
        self.order: deque[tuple[StreamMessage, int]] = deque()
        self.streams: dict[str, deque[StreamMessage]] = {}
        self.nbytes = 0

    def add(self, message: StreamMessage, size: int) -> None:
        self.order.append((message, size))
        self.streams.setdefault(message.stream, deque()).append(message)
        self.nbytes += size

    def evict_oldest(self) -> None:
        message, size = self.order.popleft()
        stream = self.streams[message.stream]
        stream.popleft()  # the stream's oldest: eviction follows publish order
        if not stream:
            del self.streams[message.stream]
        self.nbytes -= size

    def drop_stream(self, name: str) -> int:
        """Remove one stream entirely (a message too large to keep breaks its contiguity)."""
        if self.streams.pop(name, None) is None:
            return 0
        kept = deque(entry for entry in self.order if entry[0].stream != name)
        dropped = len(self.order) - len(kept)
        self.order = kept
        self.nbytes = sum(size for _, size in kept)
        return dropped


class StreamPublisher:
    """The daemon's data socket. Start :meth:`run` in the root task group
    (``address = await tg.start(publisher.run)``); call the ``publish*`` methods on the event
    loop's thread only.

    Without ``context`` the publisher makes its own with ``io_threads`` I/O threads (and ends
    it), so sending gigabytes to subscribers never queues behind or delays the control
    socket's traffic in a shared context's single I/O thread. When it stops, what ZeroMQ still
    has queued is sent for at most ``linger_s`` (the daemon: the last job states)."""

    def __init__(
        self,
        bind: str = "tcp://127.0.0.1:0",
        *,
        sndhwm: int = DEFAULT_SNDHWM,
        buffer_bytes_per_job: int = DEFAULT_BUFFER_BYTES_PER_JOB,
        max_jobs_buffered: int = DEFAULT_MAX_JOBS_BUFFERED,
        heartbeat_s: float = 1.0,
        heartbeat_streams: int = DEFAULT_HEARTBEAT_STREAMS,
        io_threads: int = DEFAULT_IO_THREADS,
        context: zmq.asyncio.Context | None = None,
        linger_s: float = 0.0,
    ) -> None:
        if sndhwm < 1 or buffer_bytes_per_job < 0 or max_jobs_buffered < 1 or heartbeat_s <= 0:
            raise ValueError("sndhwm, max_jobs_buffered >= 1; buffer >= 0; heartbeat_s > 0")
        self._bind = bind
        self.sndhwm = sndhwm
        self.buffer_bytes_per_job = buffer_bytes_per_job
        self.max_jobs_buffered = max_jobs_buffered
        self.heartbeat_s = heartbeat_s
        self.heartbeat_streams = heartbeat_streams
        self.io_threads = io_threads
        self.linger_s = linger_s
        self._context = context
        self._socket: zmq.asyncio.Socket | None = None
        self.address = ""
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        self._buffers: OrderedDict[str, _JobBuffer] = OrderedDict()
        self._subscriptions: dict[bytes, int] = {}
        self._changed: anyio.Event | None = None
        self._counts = dict.fromkeys(
            ("messages", "bytes", "unsent", "send_refused", "heartbeats", "evicted_messages"), 0
        )
        self._publish_max_s = 0.0
        self._publish_total_s = 0.0

    # --- lifecycle ----------------------------------------------------------------------------
    async def run(self, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind, report the bound address, then send heartbeats and count subscriptions until
        cancelled. Messages published while not running are only buffered."""
        if self._socket is not None:
            raise RuntimeError("the publisher is already running")
        context = self._context or zmq.asyncio.Context(io_threads=self.io_threads)
        sock = context.socket(zmq.XPUB)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, self.sndhwm)
            # Every subscribe and unsubscribe reaches us, not only a topic's first and last.
            sock.setsockopt(zmq.XPUB_VERBOSER, 1)
            sock.bind(self._bind)
            self.address = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            self._socket = sock
            log.info("publishing", data=self.address, sndhwm=self.sndhwm)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._heartbeats)
                task_status.started(self.address)
                await self._track_subscriptions(sock)
        finally:
            self._socket = None
            self._subscriptions.clear()
            self._notify()
            # What ZeroMQ still has queued is sent for at most ``linger_s`` (a subscriber that
            # stopped reading may hold it up that long), in a thread: never on the loop.
            sock.close(linger=int(self.linger_s * 1000))
            if self._context is None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(context.term)

    async def _heartbeats(self) -> None:
        while True:
            await anyio.sleep(self.heartbeat_s)
            self.send_heartbeat()

    def send_heartbeat(self) -> None:
        """Send the heartbeat now (``run`` sends one every ``heartbeat_s``)."""
        recent = itertools.islice(reversed(self._last_seq.items()), self.heartbeat_streams)
        heartbeat = Heartbeat(time=time.time(), interval_s=self.heartbeat_s, last=dict(recent))
        if self._send(heartbeat.encode()):
            self._counts["heartbeats"] += 1

    async def _track_subscriptions(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            event = await sock.recv()
            if not event or event[0] not in (0, 1):
                continue
            topic = bytes(event[1:])
            count = self._subscriptions.get(topic, 0) + (1 if event[0] == 1 else -1)
            if count > 0:
                self._subscriptions[topic] = count
            else:
                self._subscriptions.pop(topic, None)
            self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # --- subscribers ----------------------------------------------------------------------------
    @property
    def subscriber_count(self) -> int:
        """Subscriptions to the ``heartbeat`` topic: every :class:`~qconductor.protocol.stream.
        Subscriber` makes exactly one, so this is the number of connected subscribers. A bare
        SUB socket that does not subscribe to ``heartbeat`` is only in :meth:`subscriptions`."""
        return self._subscriptions.get(HEARTBEAT_TOPIC.encode(), 0)

    def subscriptions(self) -> dict[str, int]:
        """Live subscriptions per topic prefix (a SUB that subscribes twice counts twice)."""
        return {
            topic.decode(errors="backslashreplace"): n for topic, n in self._subscriptions.items()
        }

    async def wait_subscribers(self, count: int, *, topic: str = HEARTBEAT_TOPIC) -> None:
        """Return once exactly ``count`` subscriptions to ``topic`` are live (no deadline of
        its own: wrap it in ``anyio.fail_after``)."""
        while self._subscriptions.get(topic.encode(), 0) != count:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    # --- publishing -----------------------------------------------------------------------------
    def publish(
        self,
        stream: str,
        meta: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray[Any, Any]] | None = None,
    ) -> int:
        """Send one message on ``stream`` now and keep it for replay; its seq is returned.
        Never waits: a subscriber whose queue is full misses the message (and sees a gap)."""
        started = time.perf_counter()
        check_stream_name(stream)
        seq = self._last_seq.get(stream, 0) + 1
        message = StreamMessage.create(stream, seq, meta, arrays)
        frames = message.encode()  # refuses bad meta before the seq is taken
        size = sum(memoryview(f).nbytes for f in frames)
        self._last_seq[stream] = seq
        self._last_seq.move_to_end(stream)
        if len(self._last_seq) > MAX_TRACKED_STREAMS:
            self._last_seq.popitem(last=False)
        self._send(frames)
        self._keep(message, size)
        self._counts["messages"] += 1
        self._counts["bytes"] += size
        elapsed = time.perf_counter() - started
        self._publish_max_s = max(self._publish_max_s, elapsed)
        self._publish_total_s += elapsed
        return seq

    def publish_acquisitions(
        self,
        job_id: str,
        channel: str | int,
        arrays: Mapping[str, np.ndarray[Any, Any]],
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        return self.publish(acq_stream(job_id, channel), meta or {}, arrays)

    def publish_state(self, job_id: str, state: str, meta: Mapping[str, Any] | None = None) -> int:
        return self.publish(state_stream(job_id), {**(meta or {}), "state": state})

    def publish_status(self, status: Mapping[str, Any]) -> int:
        return self.publish(STATUS_STREAM, status)

    async def publish_status_every(self, source: StatusSource, period_s: float) -> None:
        """Publish ``source()`` (sync or async) on the ``status`` stream every ``period_s``."""
        while True:
            status = source()
            if inspect.isawaitable(status):
                status = await status
            self.publish_status(status)
            await anyio.sleep(period_s)

    def _send(self, frames: list[Frame]) -> bool:
        sock = self._socket
        if sock is None:
            self._counts["unsent"] += 1
            return False
        # The async socket sends a NOBLOCK message at once (and wakes its pending receive); the
        # returned future is already done. XPUB only refuses when every peer is full and
        # XPUB_NODROP is set, which it is not: a full peer just misses the message.
        future = cast("asyncio.Future[Any]", sock.send_multipart(frames, zmq.NOBLOCK, copy=False))
        if future.done() and future.exception() is not None:
            self._counts["send_refused"] += 1
            return False
        return True

    # --- replay buffer --------------------------------------------------------------------------
    def _keep(self, message: StreamMessage, size: int) -> None:
        key = _group(message.stream)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = _JobBuffer()
        self._buffers.move_to_end(key)
        if size > self.buffer_bytes_per_job:
            self._counts["evicted_messages"] += buffer.drop_stream(message.stream) + 1
        else:
            while buffer.nbytes + size > self.buffer_bytes_per_job:
                buffer.evict_oldest()
                self._counts["evicted_messages"] += 1
            buffer.add(message, size)
        while len(self._buffers) > self.max_jobs_buffered:
            _, evicted = self._buffers.popitem(last=False)
            self._counts["evicted_messages"] += len(evicted.order)

    def replay(self, stream: str, from_seq: int, to_seq: int | None = None) -> list[StreamMessage]:
        """Messages ``from_seq`` .. ``to_seq`` (default: the last) of ``stream``, from the
        buffer. A range no longer (or never) buffered raises ``REPLAY_UNAVAILABLE``; a range
        beyond the last message, ``INVALID_REQUEST``. Error paths name the replay verb's
        arguments (``args.stream``, ``args.from_seq``, ``args.to_seq``)."""
        last = self._last_seq.get(stream)
        if last is None:
            raise QconductorError(
                ErrorCode.REPLAY_UNAVAILABLE,
                f"no stream {stream!r} has been published (or it was forgotten)",
                "args.stream",
            )
        to = last if to_seq is None else to_seq
        if from_seq < 1 or to < from_seq:
            raise QconductorError(
                ErrorCode.INVALID_REQUEST,
                f"replay range {from_seq}..{to} is empty or starts below 1",
                "args.from_seq",
            )
        if to > last:
            raise QconductorError(
                ErrorCode.INVALID_REQUEST,
                f"stream {stream!r} has published messages up to {last}, not {to}",
                "args.to_seq",
            )
        buffer = self._buffers.get(_group(stream))
        kept = buffer.streams.get(stream) if buffer else None
        first = kept[0].seq if kept else last + 1
        if from_seq < first:
            available = (
                f"messages {first}..{last} are still buffered"
                if kept
                else "none of its messages is buffered any more"
            )
            raise QconductorError(
                ErrorCode.REPLAY_UNAVAILABLE,
                f"messages {from_seq}..{min(to, first - 1)} of {stream!r} were evicted from the "
                f"replay buffer ({self.buffer_bytes_per_job} bytes per job, "
                f"{self.max_jobs_buffered} jobs)",
                "args.from_seq",
                hint=available,
            )
        assert kept is not None  # from_seq >= first <= last means something is kept
        return list(itertools.islice(kept, from_seq - first, to - first + 1))

    def forget_job(self, job_id: str) -> None:
        """Drop a job's buffered messages and sequence counters (the job is gone for good)."""
        prefix = job_prefix(job_id)
        buffer = self._buffers.pop(prefix, None)
        if buffer is not None:
            self._counts["evicted_messages"] += len(buffer.order)
        for stream in [s for s in self._last_seq if s.startswith(prefix)]:
            del self._last_seq[stream]

    # --- status -----------------------------------------------------------------------------
    @property
    def buffered_bytes(self) -> int:
        return sum(b.nbytes for b in self._buffers.values())

    def stats(self) -> dict[str, Any]:
        """For the status verb and topic. ``unsent``: published while not running;
        ``send_refused``: refused by ZeroMQ (expected 0). Drops for a slow subscriber are not
        visible here; that subscriber sees them as gaps."""
        messages = self._counts["messages"]
        return {
            "address": self.address,
            "subscribers": self.subscriber_count,
            "subscriptions": sum(self._subscriptions.values()),
            **self._counts,
            "buffered_jobs": len(self._buffers),
            "buffered_messages": sum(len(b.order) for b in self._buffers.values()),
            "buffered_bytes": self.buffered_bytes,
            "buffer_bytes_per_job": self.buffer_bytes_per_job,
            "max_jobs_buffered": self.max_jobs_buffered,
            "sndhwm": self.sndhwm,
            "publish_max_us": round(self._publish_max_s * 1e6, 1),
            "publish_mean_us": round(self._publish_total_s / messages * 1e6, 1) if messages else 0,
        }
