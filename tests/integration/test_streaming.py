"""The data socket over real ZeroMQ sockets on loopback: order, prefixes, a slow subscriber
beside a fast one, gaps found by sequence numbers and heartbeats, replay and its bounds."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import numpy as np
import pytest
import zmq
import zmq.asyncio

from qconductor.daemon.streams import StreamPublisher
from qconductor.protocol.codec import decode, encode
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.stream import (
    Gap,
    Heartbeat,
    StreamMessage,
    Subscriber,
    acq_stream,
    decode_replay,
    encode_replay,
    job_prefix,
    state_stream,
)

pytestmark = pytest.mark.anyio
HEARTBEAT_S = 0.05
DEADLINE_S = 10.0


@asynccontextmanager
async def running(**options: Any) -> AsyncIterator[StreamPublisher]:
    publisher = StreamPublisher("tcp://127.0.0.1:0", heartbeat_s=HEARTBEAT_S, **options)
    async with anyio.create_task_group() as tg:
        address = await tg.start(publisher.run)
        assert address.startswith("tcp://127.0.0.1:")
        assert address == publisher.address
        try:
            yield publisher
        finally:
            tg.cancel_scope.cancel()


async def joined(publisher: StreamPublisher, prefix: str, *subscribers: Subscriber) -> None:
    """Subscribe, then wait until the publisher has seen it (ZeroMQ's slow joiner)."""
    before = publisher.subscriptions().get(prefix, 0)
    for sub in subscribers:
        sub.subscribe(prefix)
    with anyio.fail_after(DEADLINE_S):
        await publisher.wait_subscribers(before + len(subscribers), topic=prefix)


def replay_over_codec(publisher: StreamPublisher) -> Any:
    """The replay verb as the control socket will carry it: through the codec and back."""

    async def replay(stream: str, first: int, last: int) -> list[StreamMessage]:
        frames = encode(encode_replay(publisher.replay(stream, first, last)))
        return decode_replay(decode([bytes(f) for f in frames]))

    return replay


def frame(seq: int, samples: int) -> np.ndarray[Any, Any]:
    """A fresh array whose every sample is its message's seq (so any mix-up shows)."""
    return np.full(samples, seq, dtype=np.complex64)


async def test_one_subscriber_receives_every_message_in_order() -> None:
    rng = np.random.default_rng(0)
    async with running() as publisher, Subscriber(publisher.address) as sub:
        await joined(publisher, job_prefix("a"), sub)
        sent: list[tuple[str, int, dict[str, Any]]] = []
        for k in range(40):
            arrays = {
                "iq": rng.standard_normal(1000) + 1j * rng.standard_normal(1000),
                "counts": np.arange(k * 6, dtype=np.int64).reshape(k, 6),
                "threshold": np.array(np.float32(k) / 3),
            }
            seq = publisher.publish_acquisitions("a", k % 2, arrays, {"k": k})
            sent.append((acq_stream("a", k % 2), seq, arrays))
        assert [seq for _, seq, _ in sent] == [1 + k // 2 for k in range(40)]
        publisher.publish_state("a", "done", {"acquisitions": 40})
        with anyio.fail_after(DEADLINE_S):
            received = [await sub.recv() for _ in range(41)]
    for (stream, seq, arrays), message in zip(sent, received, strict=False):
        assert (message.stream, message.seq) == (stream, seq)
        assert message.meta["k"] == 2 * (seq - 1) + int(stream[-1])
        for name, array in arrays.items():
            assert message.arrays[name].dtype == array.dtype
            np.testing.assert_array_equal(message.arrays[name], array)
    assert (received[-1].stream, received[-1].seq) == (state_stream("a"), 1)
    assert received[-1].meta == {"acquisitions": 40, "state": "done"}
    assert sub.gaps == []


async def test_a_job_prefix_selects_that_job_only() -> None:
    async with (
        running() as publisher,
        Subscriber(publisher.address) as one,
        Subscriber(publisher.address) as twelve,
    ):
        await joined(publisher, job_prefix("1"), one)
        await joined(publisher, job_prefix("12"), twelve)
        for job in ("1", "12", "2", "1", "12"):
            publisher.publish_acquisitions(job, 0, {"x": np.arange(3)})
        publisher.publish_status({"jobs": 3})
        for job in ("1", "12"):
            publisher.publish_state(job, "done")  # last: everything before it has arrived

        async def streams(sub: Subscriber, job: str) -> list[str]:
            names: list[str] = []
            while not names or names[-1] != state_stream(job):
                names.append((await sub.recv()).stream)
            return names

        with anyio.fail_after(DEADLINE_S):
            assert await streams(one, "1") == ["job/1/acq/0", "job/1/acq/0", "job/1/state"]
            assert await streams(twelve, "12") == ["job/12/acq/0"] * 2 + ["job/12/state"]
        assert one.gaps == twelve.gaps == []


async def test_slow_subscriber_never_slows_the_fast_one_and_replays_what_it_missed() -> None:
    total, samples, window = 200, 12_500, 4  # 100 kB frames
    stream = acq_stream("j", 0)
    async with (
        running(sndhwm=8, buffer_bytes_per_job=64 * 2**20) as publisher,
        Subscriber(publisher.address, rcvhwm=1000) as fast,
        # The slow one stops reading; small queues so ZeroMQ starts dropping for it early.
        Subscriber(publisher.address, rcvhwm=2, rcvbuf=64 * 1024) as slow,
    ):
        await joined(publisher, job_prefix("j"), fast, slow)
        got, received_by_fast = anyio.create_memory_object_stream[StreamMessage](math.inf)
        fast_messages: list[StreamMessage] = []
        publish_s: list[float] = []
        async with got, received_by_fast, anyio.create_task_group() as tg:

            async def read_fast() -> None:
                while True:
                    await got.send(await fast.recv())

            tg.start_soon(read_fast)
            with anyio.fail_after(DEADLINE_S):
                for seq in range(1, total + 1):
                    started = time.perf_counter()
                    assert publisher.publish(stream, {}, {"x": frame(seq, samples)}) == seq
                    publish_s.append(time.perf_counter() - started)
                    # The test keeps pace with the fast subscriber only (never the slow one).
                    if seq > window:
                        fast_messages.append(await received_by_fast.receive())
                for _ in range(window):
                    fast_messages.append(await received_by_fast.receive())
            tg.cancel_scope.cancel()

        assert [m.seq for m in fast_messages] == list(range(1, total + 1))
        assert all(m.arrays["x"][0] == m.arrays["x"][-1] == m.seq for m in fast_messages)
        assert fast.gaps == []
        assert max(publish_s) < 0.05, f"publish took up to {max(publish_s) * 1e3:.1f} ms"

        # The slow subscriber wakes up: what ZeroMQ kept for it, then the heartbeat's news.
        slow_messages: list[StreamMessage] = []
        with anyio.fail_after(DEADLINE_S):
            while slow.last_seq(stream) != total:
                event = await slow.recv_event()
                if isinstance(event, StreamMessage):
                    slow_messages.append(event)
        missing = [s for g in slow.gaps for s in range(g.first_missing, g.last_missing + 1)]
        received = [m.seq for m in slow_messages]
        assert missing, "the slow subscriber lost nothing: the test did not make it slow"
        assert sorted(received + missing) == list(range(1, total + 1))

        filled = await slow.fill_gaps(replay_over_codec(publisher))
        assert slow.lost == []
        assert [m.seq for m in filled] == missing
        everything = sorted(slow_messages + filled, key=lambda m: m.seq)
        assert all(m.arrays["x"][0] == m.arrays["x"][-1] == m.seq for m in everything)


async def test_publishing_800_kB_frames_takes_microseconds_beside_a_stalled_subscriber() -> None:
    bound = 8 * 800_000
    async with (
        running(buffer_bytes_per_job=bound) as publisher,
        Subscriber(publisher.address, rcvhwm=1) as stalled,
    ):
        await joined(publisher, job_prefix("big"), stalled)
        publish_s = []
        for seq in range(1, 101):
            data = frame(seq, 100_000)  # 800 kB, a fresh array each time
            started = time.perf_counter()
            publisher.publish_acquisitions("big", 0, {"x": data})
            publish_s.append(time.perf_counter() - started)
            assert publisher.buffered_bytes <= bound
        stats = publisher.stats()
    assert float(np.median(publish_s)) < 0.002, f"median {np.median(publish_s) * 1e6:.0f} µs"
    assert max(publish_s) < 0.05
    assert stats["messages"] == 100
    assert stats["bytes"] > 100 * 800_000
    assert stats["buffered_messages"] == 7  # 8 x 800,000 bytes do not fit with the headers
    assert stats["evicted_messages"] == 93


async def test_replay_buffer_is_bounded_per_job_and_in_jobs_with_stable_errors() -> None:
    per_job = 1_000_000
    async with running(buffer_bytes_per_job=per_job, max_jobs_buffered=3) as publisher:
        for job in range(6):
            for seq in range(1, 21):
                publisher.publish_acquisitions(f"j{job}", 0, {"x": frame(seq, 12_500)})
                assert publisher.buffered_bytes <= 3 * per_job
        stats = publisher.stats()
        assert stats["buffered_jobs"] == 3
        stream = acq_stream("j5", 0)
        kept = publisher.replay(stream, 12)  # 9 messages of 100,1xx bytes fit in 1 MB
        assert [m.seq for m in kept] == list(range(12, 21))
        assert [m.seq for m in publisher.replay(stream, 13, 14)] == [13, 14]

        with pytest.raises(QconductorError) as info:
            publisher.replay(stream, 5, 12)
        assert (info.value.code, info.value.path) == (ErrorCode.REPLAY_UNAVAILABLE, "args.from_seq")
        assert "5..11" in info.value.message
        assert info.value.hint == "messages 12..20 are still buffered"

        with pytest.raises(QconductorError) as info:
            publisher.replay(acq_stream("j0", 0), 20)  # the whole job was evicted
        assert info.value.code == ErrorCode.REPLAY_UNAVAILABLE
        assert info.value.hint == "none of its messages is buffered any more"

        with pytest.raises(QconductorError) as info:
            publisher.replay(acq_stream("nope", 0), 1)
        assert (info.value.code, info.value.path) == (ErrorCode.REPLAY_UNAVAILABLE, "args.stream")

        with pytest.raises(QconductorError) as info:
            publisher.replay(stream, 15, 21)
        assert (info.value.code, info.value.path) == (ErrorCode.INVALID_REQUEST, "args.to_seq")

        publisher.forget_job("j5")
        with pytest.raises(QconductorError) as info:
            publisher.replay(stream, 20)
        assert info.value.path == "args.stream"
        assert publisher.stats()["buffered_jobs"] == 2


async def test_subscriber_count_follows_subscribers_connecting_and_closing() -> None:
    async with running() as publisher:
        assert publisher.subscriber_count == 0
        first = Subscriber(publisher.address)
        second = Subscriber(publisher.address)
        ctx = zmq.asyncio.Context()
        bare = ctx.socket(zmq.SUB)  # no heartbeat subscription: not a counted subscriber
        bare.setsockopt(zmq.LINGER, 0)
        bare.setsockopt(zmq.SUBSCRIBE, b"job/")
        bare.connect(publisher.address)
        try:
            with anyio.fail_after(DEADLINE_S):
                await publisher.wait_subscribers(2)
                await publisher.wait_subscribers(1, topic="job/")
                assert publisher.stats()["subscribers"] == 2
                first.close()
                await publisher.wait_subscribers(1)
                second.close()
                await publisher.wait_subscribers(0)
            assert publisher.subscriptions() == {"job/": 1}
        finally:
            first.close()
            second.close()
            bare.close()
            ctx.term()


async def test_heartbeat_reveals_loss_at_the_end_of_a_stream() -> None:
    stream = acq_stream("e", 0)
    async with running() as publisher, Subscriber(publisher.address) as sub:
        await joined(publisher, job_prefix("e"), sub)
        for seq in (1, 2, 3):
            publisher.publish(stream, {}, {"x": frame(seq, 10)})
        with anyio.fail_after(DEADLINE_S):
            assert [(await sub.recv()).seq for _ in range(3)] == [1, 2, 3]
            # Away for a moment: the stream's last two messages never reach the subscriber.
            sub.unsubscribe(job_prefix("e"))
            await publisher.wait_subscribers(0, topic=job_prefix("e"))
            publisher.publish(stream, {}, {"x": frame(4, 10)})
            publisher.publish(stream, {}, {"x": frame(5, 10)})
            await joined(publisher, job_prefix("e"), sub)
            # No later message of the stream will show the hole; the heartbeat does.
            while not sub.gaps:
                assert isinstance(await sub.recv_event(), Heartbeat)
        assert sub.gaps == [Gap(stream, 4, 5)]
        filled = await sub.fill_gaps(replay_over_codec(publisher))
        assert [m.seq for m in filled] == [4, 5]
        assert [int(m.arrays["x"][0].real) for m in filled] == [4, 5]
        assert sub.take_gaps() == []


async def test_a_late_subscriber_replays_the_start_of_a_job() -> None:
    async with running() as publisher, Subscriber(publisher.address) as sub:
        publisher.publish_state("late", "queued")
        publisher.publish_state("late", "running")
        await joined(publisher, job_prefix("late"), sub)
        publisher.publish_state("late", "done")
        with anyio.fail_after(DEADLINE_S):
            message = await sub.recv()
        assert (message.seq, message.meta["state"]) == (3, "done")
        assert sub.gaps == [Gap(state_stream("late"), 1, 2)]
        filled = await sub.fill_gaps(replay_over_codec(publisher))
        assert [m.meta["state"] for m in filled] == ["queued", "running"]


async def test_evicted_gap_goes_to_lost_with_the_daemons_error() -> None:
    stream = acq_stream("gone", 0)
    async with running(buffer_bytes_per_job=0) as publisher, Subscriber(publisher.address) as sub:
        publisher.publish(stream, {})
        await joined(publisher, job_prefix("gone"), sub)
        publisher.publish(stream, {})
        with anyio.fail_after(DEADLINE_S):
            assert (await sub.recv()).seq == 2
        assert await sub.fill_gaps(replay_over_codec(publisher)) == []
        [(gap, error)] = sub.lost
        assert gap == Gap(stream, 1, 1)
        assert error.code == ErrorCode.REPLAY_UNAVAILABLE


async def test_periodic_status_topic_and_stopping_cleanly() -> None:
    async with running() as publisher, Subscriber(publisher.address) as sub:
        await joined(publisher, "status", sub)
        calls = 0

        async def status() -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return {"jobs": calls, "streams": publisher.stats()}

        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher.publish_status_every, status, 0.01)
            with anyio.fail_after(DEADLINE_S):
                first, second = await sub.recv(), await sub.recv()
            tg.cancel_scope.cancel()
        assert (first.stream, first.seq, second.seq) == ("status", 1, 2)
        assert second.meta["jobs"] == 2
        assert second.meta["streams"]["subscribers"] == 1
    assert publisher.subscriber_count == 0
    assert publisher.publish_status({"after": True}) == 3  # buffered, not sent
    assert publisher.stats()["unsent"] == 1


async def test_a_burst_beyond_the_queue_is_detected_and_replayed_by_every_subscriber() -> None:
    total = 200
    stream = acq_stream("burst", 0)
    async with (
        running(sndhwm=4) as publisher,
        Subscriber(publisher.address) as one,
        Subscriber(publisher.address) as two,
    ):
        await joined(publisher, job_prefix("burst"), one, two)
        # One synchronous burst, 20 MB: more than ZeroMQ's queues (4 messages here, 64 on the
        # subscriber's side) and the kernel's socket buffers hold, however fast the I/O thread.
        for seq in range(1, total + 1):
            publisher.publish(stream, {}, {"x": frame(seq, 12_500)})
        for sub in (one, two):
            received: list[StreamMessage] = []
            with anyio.fail_after(DEADLINE_S):
                while sub.last_seq(stream) != total:
                    event = await sub.recv_event()
                    if isinstance(event, StreamMessage):
                        received.append(event)
            assert len(received) < total, "nothing was dropped: the burst was not a burst"
            received += await sub.fill_gaps(replay_over_codec(publisher))
            assert sub.lost == []
            assert sorted(m.seq for m in received) == list(range(1, total + 1))
            assert all(m.arrays["x"][0] == m.seq for m in received)
