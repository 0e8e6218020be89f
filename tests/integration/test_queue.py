"""The queue and the pipeline, against the daemon as a real process on the simulated lab with
pacing (a job lasts as long as on hardware): states and timestamps, priority, round-robin
between clients, expiry, many clients at once, dead time, and the data socket."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import numpy as np
import pytest

from qconductor.protocol.client import AsyncClient, Client, JobInfo
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.stream import StreamMessage, Subscriber, job_prefix, state_stream
from tests.integration.daemon_process import DaemonProcess, start_daemon, write_config
from tests.integration.test_cancel import schedule

pytestmark = pytest.mark.timeout(120)
T = TypeVar("T")
ALL_STATES = [
    "queued",
    "compiling",
    "compiled",
    "arming",
    "armed",
    "running",
    "retrieving",
    "done",
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("queue")
    config = write_config(tmp, mode="simulated", pacing=True, status_interval_s=0.1)
    proc = start_daemon(config)
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Client]:
    with Client(daemon.address, timeout_s=30) as c:
        yield c


async def poll(ask: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Ask the daemon again every 10 ms until ``done`` (at most 10 s)."""
    for _ in range(1000):
        answer = await ask()
        if done(answer):
            return answer
        await anyio.sleep(0.01)
    raise AssertionError(f"still not done: {answer}")


def running_order(jobs: list[JobInfo]) -> list[str]:
    return [j.job_id for j in sorted(jobs, key=lambda j: j.timestamps["running"])]


def test_a_submitted_job_passes_every_state_in_order(client: Client) -> None:
    result = client.submit(schedule(0.01), timeout_s=20)
    assert result.state == "done"
    assert list(result.timestamps) == ALL_STATES
    stamps = list(result.timestamps.values())
    assert stamps == sorted(stamps)
    assert result.raw["duration_ns"] >= 10_000_000


def test_enqueue_returns_at_once_then_wait_and_retrieve(client: Client) -> None:
    job = client.enqueue(schedule(0.2))
    assert job.state in ("queued", "compiling", "compiled", "arming", "armed", "running")
    assert not job.ended
    early = client.wait(job.job_id, timeout_s=0.05)  # not yet: described as it is
    assert not early.ended
    ended = client.wait(job.job_id, timeout_s=20)
    assert ended.state == "done"
    assert client.retrieve(job.job_id).acquisitions[0].shape == (1,)


def test_a_running_job_reports_its_progress(client: Client) -> None:
    job = client.enqueue(schedule(0.5))
    deadline = time.monotonic() + 10
    while (now := client.job(job.job_id)).state != "running":
        assert time.monotonic() < deadline, now
        time.sleep(0.01)
    progress = now.raw["progress"]
    assert 0 <= progress["fraction"] <= 1
    assert progress["expected_s"] == pytest.approx(0.5, rel=0.01)
    assert client.wait(job.job_id, timeout_s=20).state == "done"


def test_higher_priority_runs_first_and_clients_take_turns(daemon: DaemonProcess) -> None:
    async def scenario() -> list[JobInfo]:
        async with (
            AsyncClient(daemon.address, timeout_s=30, name="a") as a,
            AsyncClient(daemon.address, timeout_s=30, name="b") as b,
        ):
            blocker = await a.enqueue(schedule(0.4))
            await poll(lambda: a.job(blocker.job_id), lambda j: j.state == "running")
            # everything below queues behind the blocker
            queued = [await a.enqueue(schedule(0.001)) for _ in range(4)]
            queued += [await b.enqueue(schedule(0.001)) for _ in range(2)]
            urgent = await b.enqueue(schedule(0.001), priority=5)
            jobs = [blocker, *queued, urgent]
            return [await a.wait(j.job_id, timeout_s=30) for j in jobs]

    blocker, a1, a2, a3, a4, b1, b2, urgent = anyio.run(scenario)
    assert all(j.state == "done" for j in (blocker, a1, a2, a3, a4, b1, b2, urgent))
    expected = [blocker, urgent, a1, b1, a2, b2, a3, a4]
    assert running_order(expected) == [j.job_id for j in expected]


def test_a_queued_job_past_its_ttl_is_dropped_with_a_reason(client: Client) -> None:
    blocker = client.enqueue(schedule(0.5))
    doomed = client.enqueue(schedule(0.001), ttl_s=0.1)
    ended = client.wait(doomed.job_id, timeout_s=10)
    assert ended.state == "cancelled"
    assert ended.error is not None
    assert ended.error["code"] == ErrorCode.JOB_EXPIRED
    assert "ttl_s" in ended.error["reason"]
    with pytest.raises(QconductorError) as info:
        client.retrieve(doomed.job_id, timeout_s=1)
    assert info.value.code == ErrorCode.JOB_EXPIRED
    assert client.wait(blocker.job_id, timeout_s=20).state == "done"


def test_many_clients_at_once_all_done_and_the_loop_never_stalls(daemon: DaemonProcess) -> None:
    async def one_client(k: int, results: list[str]) -> None:
        async with AsyncClient(daemon.address, timeout_s=60) as c:
            for _ in range(2):
                results.append((await c.submit(schedule(0.002), timeout_s=60)).state)

    async def scenario() -> tuple[list[str], dict[str, Any]]:
        results: list[str] = []
        async with anyio.create_task_group() as tg:
            for k in range(20):
                tg.start_soon(one_client, k, results)
        async with AsyncClient(daemon.address, timeout_s=10) as c:
            return results, await c.status()

    results, status = anyio.run(scenario)
    assert results == ["done"] * 40
    assert status["queue"] == {
        "depth": 0,
        "compiling": 0,
        "compiled": 0,
        "strict_priority": False,
        "pipeline_depth": 2,
    }
    cluster = status["clusters"]["cluster0"]
    assert cluster["owner"] is None
    assert cluster["dead_time_samples"] > 0  # back-to-back jobs were measured
    assert cluster["dead_time_p50_ms"] < 20
    assert status["event_loop_lag"]["max_ms"] < 50


def test_the_data_socket_carries_states_and_acquisitions(
    daemon: DaemonProcess, client: Client
) -> None:
    async def scenario() -> tuple[str, list[StreamMessage], list[StreamMessage]]:
        async with (
            AsyncClient(daemon.address, timeout_s=30) as c,
            Subscriber(daemon.data_address) as sub,
        ):
            sub.subscribe("status")
            with anyio.fail_after(10):  # the periodic status, every 0.1 s here
                status = await sub.recv()
            assert status.stream == "status"
            assert set(status.meta) >= {"queue", "clusters", "subscribers", "event_loop_lag"}
            sub.unsubscribe("status")
            sub.subscribe("job/")
            await poll(c.status, lambda status: status["subscribers"] >= 1)
            job = await c.enqueue(schedule(0.01))
            got: list[StreamMessage] = []
            with anyio.fail_after(20):  # the acquisitions come before "done"
                while not any(m.meta.get("state") == "done" for m in got):
                    message = await sub.recv()
                    if message.stream.startswith(job_prefix(job.job_id)):
                        got.append(message)
            replayed = await c.replay(state_stream(job.job_id), 1)
            return job.job_id, got, replayed

    job_id, got, replayed = anyio.run(scenario)
    states = [m.meta["state"] for m in got if m.stream == state_stream(job_id)]
    assert states == ALL_STATES
    acquisitions = [m for m in got if m.stream == f"{job_prefix(job_id)}acq/0"]
    assert len(acquisitions) == 1
    result = client.retrieve(job_id)
    np.testing.assert_array_equal(acquisitions[0].arrays["data"], result.acquisitions[0])
    assert acquisitions[0].meta["kind"] == "ssb_integration"
    assert [m.meta["state"] for m in replayed] == ALL_STATES
    assert [m.seq for m in replayed] == list(range(1, 9))


def test_cli_submit_no_wait_then_watch(daemon: DaemonProcess, tmp_path: Path) -> None:
    file = tmp_path / "long.json"
    file.write_text(schedule(1.5).model_dump_json())  # outlasts the CLI start-up
    qc = [sys.executable, "-m", "qconductor"]
    submitted = subprocess.run(
        [*qc, "submit", str(file), "--address", daemon.address, "--no-wait", "--priority", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    job_id = submitted.split()[1].rstrip(":")
    watched = subprocess.run(
        [*qc, "watch", job_id, "--address", daemon.address],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert any(f"job {job_id} running" in line and "/1.50 s" in line for line in lines), lines
    assert lines[-1].startswith(f"job {job_id} done in ")
