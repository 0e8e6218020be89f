"""The data socket's wire format, gap detection and the subscriber: acquisitions as they happen.

The daemon publishes on one ZeroMQ PUB (XPUB) socket. A message is the multipart
``[topic, header, *array frames]``:

- ``topic`` is the stream name in UTF-8 and the first frame, so ZeroMQ's prefix filtering selects
  streams: ``job/<job_id>/acq/<channel>`` (acquisitions of one channel), ``job/<job_id>/state``
  (the job's state changes) and ``status`` (the daemon's periodic status). Subscribing to
  ``job/<job_id>/`` (:func:`job_prefix`, with the trailing slash) gets everything of one job.
- ``header`` is a msgpack map ``{"seq", "stream", "t", "meta", "arrays"}``: ``seq`` counts the
  stream's messages from 1 without holes, ``t`` is the publisher's wall clock (seconds since the
  epoch), ``meta`` a plain map, ``arrays`` one ``{"name", "dtype", "shape"}`` per array frame.
- each array frame is the array's bytes as they are in memory (C order; no per-element
  encoding); the receiver makes read-only views of them with ``np.frombuffer``.

The ``heartbeat`` topic carries ``{"t", "interval_s", "last": {stream: last seq}}`` for the
streams published most recently, so a subscriber notices messages lost at the *end* of a
stream, when no later message of the stream would show the hole. A PUB socket drops messages for
a subscriber that does not keep up; :class:`GapTracker` finds every such hole as a :class:`Gap`
(a jump in ``seq``, or a heartbeat naming a higher last seq than received), and
:meth:`Subscriber.fill_gaps` fetches the missing messages from the daemon's bounded replay
buffer. The replay reply's body is :func:`encode_replay` of the messages, carried by the
control socket's ordinary codec (arrays still as raw frames).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import msgpack
import numpy as np
import zmq
import zmq.asyncio

from qconductor.protocol.codec import Frame
from qconductor.protocol.codec import _array as array_from_frame
from qconductor.protocol.errors import ErrorCode, QconductorError

HEARTBEAT_TOPIC = "heartbeat"
STATUS_STREAM = "status"
# Numeric kinds only, as in the codec: an object array cannot travel as raw bytes.
_ALLOWED_KINDS = frozenset("biufc")
# A slow subscriber's ZeroMQ receive queue, in messages: 800 kB frames x 64 = 51 MB at most.
DEFAULT_RCVHWM = 64

Replay = Callable[[str, int, int], Awaitable[list["StreamMessage"]]]


# --- stream names ---------------------------------------------------------------------------
def _name_part(value: str | int, what: str) -> str:
    text = str(value)
    if not text or "/" in text:
        raise ValueError(f"a {what} in a stream name must be non-empty without '/': {text!r}")
    return text


def job_prefix(job_id: str) -> str:
    """``job/<job_id>/``: the prefix of every stream of one job (subscribe to it)."""
    return f"job/{_name_part(job_id, 'job id')}/"


def acq_stream(job_id: str, channel: str | int) -> str:
    """``job/<job_id>/acq/<channel>``: one acquisition channel of one job."""
    return f"{job_prefix(job_id)}acq/{_name_part(channel, 'channel')}"


def state_stream(job_id: str) -> str:
    """``job/<job_id>/state``: the job's state changes."""
    return f"{job_prefix(job_id)}state"


def job_of(stream: str) -> str | None:
    """The job id of a ``job/<job_id>/...`` stream, else None."""
    parts = stream.split("/", 2)
    if len(parts) == 3 and parts[0] == "job" and parts[1]:
        return parts[1]
    return None


def check_stream_name(stream: str) -> None:
    """Refuse names a subscriber could not tell from the heartbeat or that have no topic."""
    if not stream or stream.startswith(HEARTBEAT_TOPIC):
        raise ValueError(f"{stream!r} is not a usable stream name")


# --- messages -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class StreamMessage:
    """One message of one stream. ``arrays`` are C-contiguous; decoded ones are read-only views
    of the received frames."""

    stream: str
    seq: int
    time: float
    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        stream: str,
        seq: int,
        meta: Mapping[str, Any] | None = None,
        arrays: Mapping[str, np.ndarray[Any, Any]] | None = None,
        *,
        time_s: float | None = None,
    ) -> StreamMessage:
        """A message ready to send: arrays checked and made contiguous (a copy only if the
        input is not), the time stamped now unless given."""
        out: dict[str, np.ndarray[Any, Any]] = {}
        for name, array in (arrays or {}).items():
            if not isinstance(name, str) or not isinstance(array, np.ndarray):
                raise TypeError(f"arrays map names (str) to numpy arrays, not {name!r}")
            if array.dtype.kind not in _ALLOWED_KINDS:
                raise TypeError(f"cannot send array {name!r} of dtype {array.dtype}")
            # np.ascontiguousarray would turn a 0-d array into shape (1,); keep the shape.
            out[name] = array if array.flags.c_contiguous else array.copy(order="C")
        return cls(
            stream=stream,
            seq=seq,
            time=time.time() if time_s is None else time_s,
            meta=dict(meta or {}),
            arrays=out,
        )

    @property
    def topic(self) -> bytes:
        return self.stream.encode()

    @property
    def nbytes(self) -> int:
        """Bytes of array data (the header is a few hundred bytes more)."""
        return sum(a.nbytes for a in self.arrays.values())

    def encode(self) -> list[Frame]:
        """``[topic, header, *array frames]``; the array frames are views, not copies."""
        header = {
            "seq": self.seq,
            "stream": self.stream,
            "t": self.time,
            "meta": self.meta,
            "arrays": [
                {"name": name, "dtype": a.dtype.str, "shape": list(a.shape)}
                for name, a in self.arrays.items()
            ],
        }
        frames: list[Frame] = [self.topic, _pack(header)]
        for array in self.arrays.values():
            frames.append(array.data.cast("B") if array.size else b"")
        return frames

    @classmethod
    def decode(cls, frames: Sequence[Frame]) -> StreamMessage:
        """The message of ``frames`` (as received); raises MALFORMED_MESSAGE on any defect."""
        if len(frames) < 2:
            raise _malformed(f"a stream message has at least 2 frames, not {len(frames)}")
        header = _unpack(frames[1])
        seq, stream, stamp = header.get("seq"), header.get("stream"), header.get("t")
        meta, specs = header.get("meta", {}), header.get("arrays", [])
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise _malformed(f"bad sequence number {seq!r}")
        if not isinstance(stream, str) or bytes(frames[0]) != stream.encode():
            raise _malformed(f"the header's stream {stream!r} is not the topic")
        if not isinstance(stamp, int | float) or not isinstance(meta, dict):
            raise _malformed("the header's time or meta is missing")
        if not isinstance(specs, list) or len(specs) != len(frames) - 2:
            raise _malformed(f"the header describes {specs!r} for {len(frames) - 2} frame(s)")
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        for index, spec in enumerate(specs, start=2):
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise _malformed(f"bad array description {spec!r}")
            try:
                if not isinstance(spec.get("dtype"), str):
                    raise TypeError("not a string")
                dtype = np.dtype(spec["dtype"])
            except TypeError as exc:
                raise _malformed(f"bad array dtype {spec.get('dtype')!r}") from exc
            arrays[spec["name"]] = array_from_frame(frames, index, dtype, spec.get("shape"))
        return cls(stream=stream, seq=seq, time=float(stamp), meta=meta, arrays=arrays)


@dataclass(frozen=True)
class Heartbeat:
    """The publisher's periodic ``{stream: last seq}`` of its recently published streams."""

    time: float
    interval_s: float
    last: dict[str, int]

    def encode(self) -> list[Frame]:
        body = {"t": self.time, "interval_s": self.interval_s, "last": self.last}
        return [HEARTBEAT_TOPIC.encode(), _pack(body)]

    @classmethod
    def decode(cls, frames: Sequence[Frame]) -> Heartbeat:
        if len(frames) != 2:
            raise _malformed(f"a heartbeat has 2 frames, not {len(frames)}")
        body = _unpack(frames[1])
        stamp, interval, last = body.get("t"), body.get("interval_s"), body.get("last")
        if not isinstance(stamp, int | float) or not isinstance(interval, int | float):
            raise _malformed("the heartbeat's time or interval is missing")
        if not isinstance(last, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in last.items()
        ):
            raise _malformed("the heartbeat's last sequence numbers are not {stream: int}")
        return cls(time=float(stamp), interval_s=float(interval), last=last)


def decode_frames(frames: Sequence[Frame]) -> StreamMessage | Heartbeat:
    """Whatever arrived on the data socket."""
    if frames and bytes(frames[0]) == HEARTBEAT_TOPIC.encode():
        return Heartbeat.decode(frames)
    return StreamMessage.decode(frames)


def _pack(obj: Any) -> bytes:
    def default(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            raise TypeError("arrays go in a stream message's arrays, not in its meta")
        raise TypeError(f"cannot encode {type(value).__name__}")

    packed: bytes = msgpack.packb(obj, default=default, use_bin_type=True)
    return packed


def _unpack(frame: Frame) -> dict[str, Any]:
    try:
        body = msgpack.unpackb(frame, raw=False, strict_map_key=False, use_list=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise _malformed(f"the header is not msgpack: {exc}") from exc
    if not isinstance(body, dict):
        raise _malformed(f"the header is a map, not {type(body).__name__}")
    return body


def _malformed(message: str) -> QconductorError:
    return QconductorError(ErrorCode.MALFORMED_MESSAGE, message)


# --- replay over the control socket --------------------------------------------------------
def encode_replay(messages: Iterable[StreamMessage]) -> dict[str, Any]:
    """The result body of a replay reply: the messages, arrays left as arrays so the control
    socket's codec sends them as raw frames. Shapes travel explicitly (a 0-d array too)."""
    return {
        "messages": [
            {
                "stream": m.stream,
                "seq": m.seq,
                "t": m.time,
                "meta": m.meta,
                "arrays": [
                    {"name": name, "shape": list(a.shape), "data": a}
                    for name, a in m.arrays.items()
                ],
            }
            for m in messages
        ]
    }


def decode_replay(body: Mapping[str, Any]) -> list[StreamMessage]:
    """The messages of a replay reply's (decoded) result body."""
    items = body.get("messages")
    if not isinstance(items, list):
        raise _malformed("a replay reply has a list of messages")
    out: list[StreamMessage] = []
    for item in items:
        try:
            arrays = {a["name"]: np.asarray(a["data"]).reshape(a["shape"]) for a in item["arrays"]}
            out.append(
                StreamMessage(
                    stream=str(item["stream"]),
                    seq=int(item["seq"]),
                    time=float(item["t"]),
                    meta=dict(item["meta"]),
                    arrays=arrays,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed(f"bad replayed message: {exc}") from exc
    return out


# --- gap detection --------------------------------------------------------------------------
@dataclass(frozen=True)
class Gap:
    """Messages ``first_missing`` to ``last_missing`` (inclusive) of ``stream`` never arrived."""

    stream: str
    first_missing: int
    last_missing: int

    @property
    def count(self) -> int:
        return self.last_missing - self.first_missing + 1


class GapTracker:
    """The last sequence number seen per stream, and every hole: no sockets, no clock.

    A stream matched by a prefix watched ``from_start`` is expected from seq 1, so whatever came
    before the first message received (a subscription that took effect late) is a gap too;
    otherwise the first message or heartbeat seen sets the baseline. A seq of 1 below the last
    seen means the publisher restarted: the stream starts over, no gap. Older duplicates (a
    replayed message handed back in) change nothing.
    """

    def __init__(self) -> None:
        self._prefixes: dict[str, bool] = {}  # prefix -> from_start
        self.last: dict[str, int] = {}

    def watch(self, prefix: str, *, from_start: bool = True) -> None:
        self._prefixes[prefix] = from_start

    def unwatch(self, prefix: str) -> None:
        self._prefixes.pop(prefix, None)

    def forget(self, prefix: str) -> None:
        """Drop the state of every stream under ``prefix`` (a finished job)."""
        for stream in [s for s in self.last if s.startswith(prefix)]:
            del self.last[stream]

    def _policy(self, stream: str) -> bool | None:
        """None: not watched; else from_start of the longest matching prefix."""
        best: str | None = None
        for prefix in self._prefixes:
            if stream.startswith(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        return None if best is None else self._prefixes[best]

    def on_message(self, stream: str, seq: int) -> Gap | None:
        last = self.last.get(stream)
        if last is None:
            last = 0 if self._policy(stream) is not False else seq - 1
        elif seq <= last:
            if seq == 1:
                self.last[stream] = 1
            return None
        self.last[stream] = seq
        return Gap(stream, last + 1, seq - 1) if seq > last + 1 else None

    def on_heartbeat(self, heartbeat: Heartbeat) -> list[Gap]:
        gaps: list[Gap] = []
        for stream, published in heartbeat.last.items():
            from_start = self._policy(stream)
            if from_start is None:
                continue
            last = self.last.get(stream)
            if last is None:
                last = 0 if from_start else published
            if published > last:
                gaps.append(Gap(stream, last + 1, published))
            self.last[stream] = max(last, published)
        return gaps


def check_replayed(gap: Gap, messages: Sequence[StreamMessage]) -> None:
    """Raise unless ``messages`` are exactly the gap's messages, in order."""
    got = [(m.stream, m.seq) for m in messages]
    want = [(gap.stream, s) for s in range(gap.first_missing, gap.last_missing + 1)]
    if got != want:
        raise QconductorError(
            ErrorCode.MALFORMED_MESSAGE,
            f"replay of {gap.stream} {gap.first_missing}..{gap.last_missing} returned "
            f"{len(got)} message(s) that are not that range",
            gap.stream,
        )


async def fill_gap(gap: Gap, replay: Replay) -> list[StreamMessage]:
    """The gap's messages from ``replay(stream, from_seq, to_seq)``, checked."""
    messages = await replay(gap.stream, gap.first_missing, gap.last_missing)
    check_replayed(gap, messages)
    return messages


# --- the subscriber -------------------------------------------------------------------------
class Subscriber:
    """A SUB socket on the daemon's data socket, with gap detection.

    ::

        async with Subscriber(address) as sub:
            sub.subscribe(job_prefix(job_id))
            async for message in sub:
                ...
            missed = await sub.fill_gaps(client.replay)

    The heartbeat topic is always subscribed (exactly once, which is what the daemon counts as
    a subscriber). Every gap found is appended to :attr:`gaps` and to the pending list that
    :meth:`take_gaps` and :meth:`fill_gaps` consume. ``rcvhwm`` bounds the messages ZeroMQ
    queues for this subscriber (beyond it the daemon drops, and the drops are gaps);
    ``rcvbuf``, when given, is the kernel's receive buffer (SO_RCVBUF) in bytes.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        context: zmq.asyncio.Context | None = None,
        rcvhwm: int = DEFAULT_RCVHWM,
        rcvbuf: int | None = None,
    ) -> None:
        self._own_context = context is None
        self._context = context or zmq.asyncio.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, rcvhwm)
        if rcvbuf is not None:
            self._socket.setsockopt(zmq.RCVBUF, rcvbuf)
        self._socket.setsockopt(zmq.SUBSCRIBE, HEARTBEAT_TOPIC.encode())
        self._tracker = GapTracker()
        self._subscribed: set[str] = set()
        self._pending: list[Gap] = []
        self.gaps: list[Gap] = []
        self.lost: list[tuple[Gap, QconductorError]] = []
        self.closed = False
        if address is not None:
            self.connect(address)

    def connect(self, address: str) -> None:
        self._socket.connect(address)

    def subscribe(self, prefix: str, *, from_start: bool = True) -> None:
        """Receive the streams whose names start with ``prefix``. ``from_start``: a message
        before the first one received is a gap (see :class:`GapTracker`)."""
        self._tracker.watch(prefix, from_start=from_start)
        if prefix not in self._subscribed:
            self._socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())
            self._subscribed.add(prefix)

    def unsubscribe(self, prefix: str) -> None:
        self._tracker.unwatch(prefix)
        if prefix in self._subscribed:
            self._socket.setsockopt(zmq.UNSUBSCRIBE, prefix.encode())
            self._subscribed.discard(prefix)

    def forget(self, prefix: str) -> None:
        """Drop the sequence state of the streams under ``prefix`` (e.g. a finished job)."""
        self._tracker.forget(prefix)

    def last_seq(self, stream: str) -> int | None:
        """The highest seq of ``stream`` received or announced by a heartbeat."""
        return self._tracker.last.get(stream)

    async def recv_event(self) -> StreamMessage | Heartbeat:
        """The next message or heartbeat; gaps either reveals are recorded first."""
        frames = await self._socket.recv_multipart(copy=False)
        event = decode_frames([f.buffer for f in frames])
        if isinstance(event, Heartbeat):
            self._record(self._tracker.on_heartbeat(event))
        else:
            gap = self._tracker.on_message(event.stream, event.seq)
            self._record([gap] if gap else [])
        return event

    async def recv(self) -> StreamMessage:
        """The next stream message (heartbeats are consumed on the way)."""
        while True:
            event = await self.recv_event()
            if isinstance(event, StreamMessage):
                return event

    def __aiter__(self) -> AsyncIterator[StreamMessage]:
        return self

    async def __anext__(self) -> StreamMessage:
        if self.closed:
            raise StopAsyncIteration
        return await self.recv()

    def _record(self, gaps: list[Gap]) -> None:
        self.gaps.extend(gaps)
        self._pending.extend(gaps)

    def take_gaps(self) -> list[Gap]:
        """The gaps found since the last call (for a caller that fills them itself)."""
        pending, self._pending = self._pending, []
        return pending

    async def fill_gaps(self, replay: Replay) -> list[StreamMessage]:
        """Fetch every pending gap's messages with ``replay(stream, from_seq, to_seq)``.
        A gap the daemon can no longer replay goes to :attr:`lost` with the daemon's error."""
        filled: list[StreamMessage] = []
        for gap in self.take_gaps():
            try:
                filled.extend(await fill_gap(gap, replay))
            except QconductorError as exc:
                self.lost.append((gap, exc))
        return filled

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._socket.close(linger=0)
        if self._own_context:
            self._context.term()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
