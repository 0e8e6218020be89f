"""The data socket of the daemon as a real process: a slow subscriber beside a fast one while
back-to-back jobs publish 1.6 MB acquisitions. The fast one receives every message at once;
the slow one stops reading, so ZeroMQ drops messages for it alone; it detects every gap (by
sequence numbers and heartbeats) and fetches the messages from the replay buffer. The pipeline
is not slowed (dead time, event loop), and what the daemon keeps for replay stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import numpy as np
import pytest

from qconductor.protocol.client import AsyncClient, Client
from qconductor.protocol.schedule import (
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
    linspace,
)
from qconductor.protocol.stream import StreamMessage, Subscriber, acq_stream, state_stream
from tests.integration.daemon_process import (
    DaemonProcess,
    assert_loop_never_stalled,
    start_daemon,
    write_config,
)

pytestmark = pytest.mark.timeout(120)
JOBS = 24
REPETITIONS, POINTS = 1000, 100  # append mode: 1000 x 100 complex = 1.6 MB per job
STATES = 8  # queued ... done
MAX_JOBS_BUFFERED = 32


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("streams")
    config = write_config(tmp, mode="simulated")  # no pacing: jobs as fast as they go
    text = config.read_text().replace(
        "[streams]", f"[streams]\nmax_jobs_buffered = {MAX_JOBS_BUFFERED}", 1
    )
    config.write_text(text)
    proc = start_daemon(config)
    yield proc
    assert proc.stop() == 0


def shots(k: int) -> Schedule:
    """Every shot of a 100-point amplitude sweep (a different range per job)."""
    s = Schedule(name=f"shots-{k}", repetitions=REPETITIONS, clocks={"q0.ro": 150e6})
    with s.loop(amp=linspace(0.1, 0.2 + 0.001 * k, POINTS)) as body:
        ro = body.add(
            SquarePulse(port="q0:res", clock="q0.ro", amplitude=body["amp"], duration=1000)
        )
        body.add(
            SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900, bin_mode="append"),
            ref=ro,
            ref_pt="start",
            delay=100,
        )
        body.add(Idle(duration=1000))
    return s


async def subscribed(client: AsyncClient, subscriptions: int) -> None:
    """Until the daemon has seen that many subscriptions (ZeroMQ's slow joiner), 10 s."""
    for _ in range(1000):
        if (await client.status())["streams"]["subscriptions"] >= subscriptions:
            return
        await anyio.sleep(0.01)
    raise AssertionError("the daemon never saw the subscriptions")


def test_a_slow_subscriber_beside_a_fast_one(daemon: DaemonProcess) -> None:
    async def scenario() -> tuple[list[str], list[StreamMessage], Subscriber, list[Any]]:
        async with (
            AsyncClient(daemon.address, timeout_s=60) as client,
            Subscriber(daemon.data_address, rcvhwm=1000) as fast,
            # It reads nothing until every job is done; small queues, so it overflows early.
            Subscriber(daemon.data_address, rcvhwm=1, rcvbuf=64 * 1024) as slow,
        ):
            fast.subscribe("job/")
            slow.subscribe("job/")
            await subscribed(client, 4)  # two subscribers: heartbeat and job/ each
            received: list[StreamMessage] = []
            all_done = anyio.Event()
            async with anyio.create_task_group() as tg:

                async def read_fast() -> None:
                    done = 0
                    while True:
                        received.append(message := await fast.recv())
                        done += message.meta.get("state") == "done"
                        if done == JOBS:
                            all_done.set()

                tg.start_soon(read_fast)
                jobs = [(await client.enqueue(shots(k))).job_id for k in range(JOBS)]
                ended = [await client.wait(job_id, timeout_s=60) for job_id in jobs]
                assert [j.state for j in ended] == ["done"] * JOBS
                with anyio.fail_after(10):  # the fast one has everything once they are done
                    await all_done.wait()
                tg.cancel_scope.cancel()

            # The slow one wakes up: what ZeroMQ kept for it, then the heartbeats' news.
            expected = {state_stream(j): STATES for j in jobs} | {acq_stream(j, 0): 1 for j in jobs}
            slow_messages: list[StreamMessage] = []
            with anyio.fail_after(20):
                while any(slow.last_seq(s) != n for s, n in expected.items()):
                    event = await slow.recv_event()
                    if isinstance(event, StreamMessage):
                        slow_messages.append(event)
            filled = await slow.fill_gaps(client.replay)
            results = [await client.retrieve(j) for j in jobs]
            return jobs, received, slow, [slow_messages, filled, results]

    jobs, fast_messages, slow, (slow_messages, filled, results) = anyio.run(scenario)

    # The fast subscriber received every message of every job, in order, without a gap.
    assert [(m.stream, m.seq) for m in fast_messages if m.stream == state_stream(jobs[0])] == [
        (state_stream(jobs[0]), seq) for seq in range(1, STATES + 1)
    ]
    assert len(fast_messages) == JOBS * (STATES + 1)
    # The slow one lost messages, found every gap, and the replay filled them all.
    missing = [(g.stream, s) for g in slow.gaps for s in range(g.first_missing, g.last_missing + 1)]
    assert missing, "the slow subscriber lost nothing: the test did not make it slow"
    assert slow.lost == []
    assert sorted((m.stream, m.seq) for m in filled) == sorted(missing)
    everything = {(m.stream, m.seq): m for m in [*slow_messages, *filled]}
    assert sorted(everything) == sorted((m.stream, m.seq) for m in fast_messages)
    for job_id, result in zip(jobs, results, strict=True):
        data = result.acquisitions[0]
        assert data.shape == (REPETITIONS, POINTS)
        for got in (everything[(acq_stream(job_id, 0), 1)], *fast_of(fast_messages, job_id)):
            np.testing.assert_array_equal(got.arrays["data"], data)

    # The pipeline did not wait for the slow subscriber: back-to-back jobs followed each other
    # within the dead time, the event loop never stalled, and the replay buffer held
    # no more than its bound.
    with Client(daemon.address, timeout_s=10) as client:
        status = client.status()
        assert_loop_never_stalled(client.status)
    cluster = status["clusters"]["cluster0"]
    assert cluster["dead_time_samples"] >= JOBS // 2
    assert cluster["dead_time_p50_ms"] < 5
    streams = status["streams"]
    assert streams["buffered_bytes"] <= MAX_JOBS_BUFFERED * streams["buffer_bytes_per_job"]
    assert streams["buffered_jobs"] <= MAX_JOBS_BUFFERED
    assert streams["publish_max_us"] < 50_000


def fast_of(messages: list[StreamMessage], job_id: str) -> list[StreamMessage]:
    return [m for m in messages if m.stream == acq_stream(job_id, 0)]
