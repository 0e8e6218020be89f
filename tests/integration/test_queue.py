"""The queue and the pipeline, against the daemon as a real process on the simulated lab with
pacing (a job lasts as long as on hardware): states and timestamps, priority, round-robin
between clients, expiry, many clients at once, dead time, and the data socket."""

from __future__ import annotations

import os
import pty
import select
import signal
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
from tests.integration.daemon_process import (
    DaemonProcess,
    assert_loop_never_stalled,
    start_daemon,
    write_config,
)
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


def test_a_submit_that_stops_waiting_names_the_job_that_goes_on(client: Client) -> None:
    with pytest.raises(QconductorError) as info:
        client.submit(schedule(0.3), timeout_s=0.05)
    assert info.value.code == ErrorCode.TIMEOUT
    assert info.value.job_id is not None
    assert client.wait(info.value.job_id, timeout_s=20).state == "done"


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
    async def one_client(k: int, results: list[JobInfo]) -> None:
        async with AsyncClient(daemon.address, timeout_s=60) as c:
            for _ in range(2):
                results.append(await c.submit(schedule(0.002), timeout_s=60))

    async def scenario() -> tuple[list[JobInfo], dict[str, Any]]:
        results: list[JobInfo] = []
        async with anyio.create_task_group() as tg:
            for k in range(20):
                tg.start_soon(one_client, k, results)
        async with AsyncClient(daemon.address, timeout_s=10) as c:
            return results, await c.status()

    results, status = anyio.run(scenario)
    assert [r.state for r in results] == ["done"] * 40
    # every job's log lines carry its own id: one "done" line per job, under the right id
    done = {r.job_id for r in results}
    logged = [r["job_id"] for r in daemon.log_records() if r["event"] == "done"]
    assert sorted(j for j in logged if j in done) == sorted(done)
    with Client(daemon.address, timeout_s=10) as c:
        assert_loop_never_stalled(c.status)
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


def _read_all(fd: int) -> bytes:
    """Everything written to a pty until its last writer closes it."""
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed
            return out
        if not chunk:
            return out
        out += chunk


def _read_until(fd: int, marker: bytes, timeout_s: float = 60.0) -> bytes:
    """What a pty shows until ``marker`` appears (or the deadline)."""
    out = b""
    deadline = time.monotonic() + timeout_s
    while marker not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            out += os.read(fd, 4096)
    return out


def test_cli_submit_no_wait_then_watch(
    daemon: DaemonProcess, client: Client, tmp_path: Path
) -> None:
    """``watch`` shows a long job's progress, into a file (a line per state and per tenth) and
    on a terminal (one line kept up to date), and exits with the job. The watched job waits
    behind a long one until both watchers have shown it queued (however slow they start)."""
    file = tmp_path / "long.json"
    file.write_text(schedule(1.5).model_dump_json())
    blocker = client.enqueue(schedule(30.0))  # cancelled once the watchers saw the queue
    qc = [sys.executable, "-m", "qconductor"]
    submitted = subprocess.run(
        [*qc, "submit", str(file), "--address", daemon.address, "--no-wait", "--priority", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    job_id = submitted.split()[1].rstrip(":")
    watch = [*qc, "watch", job_id, "--address", daemon.address]
    queued = f"job {job_id} compiled (queue position 0)"
    primary, secondary = pty.openpty()
    try:
        on_terminal = subprocess.Popen(watch, stdout=secondary, stderr=subprocess.PIPE)
        os.close(secondary)
        into_pipe = subprocess.Popen(
            watch, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert into_pipe.stdout is not None
        before = [into_pipe.stdout.readline()]  # queued, maybe compiling first: up to this
        while before[-1] and queued not in before[-1]:
            before.append(into_pipe.stdout.readline())
        terminal = _read_until(primary, queued.encode())
        client.cancel(blocker.job_id)
        rest, err = into_pipe.communicate(timeout=60)
        terminal += _read_all(primary)
        assert on_terminal.wait(timeout=60) == 0
    finally:
        os.close(primary)
    assert into_pipe.returncode == 0, err
    lines = [line.rstrip("\n") for line in before] + rest.splitlines()
    assert lines[len(before) - 1].startswith(queued), lines
    progress = [line for line in lines if f"job {job_id} running" in line]
    assert len(progress) >= 4, lines  # a line per tenth, not only the first
    assert all("/1.50 s" in line for line in progress)
    assert lines[-1].startswith(f"job {job_id} done in ")
    assert "(ran 1.5" in lines[-1]
    # on a terminal: the same line rewritten in place, then the outcome on its own line
    updates = terminal.decode().rstrip("\r\n").split("\r")  # "\n" is written as "\r\n"
    assert any(queued in u for u in updates), updates
    assert sum(f"job {job_id} running" in u for u in updates) >= 4, updates
    assert updates[-1].strip().startswith(f"job {job_id} done in ")
    assert terminal.endswith(b"\n")
    assert client.wait(blocker.job_id, timeout_s=10).state == "cancelled"


def test_ctrl_c_stops_watching_at_once_and_leaves_the_job_alone(
    daemon: DaemonProcess, client: Client
) -> None:
    job = client.enqueue(schedule(2.0))
    watching = subprocess.Popen(
        [sys.executable, "-m", "qconductor", "watch", job.job_id, "--address", daemon.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as on a terminal: Python turns SIGINT into KeyboardInterrupt only if not ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert watching.stdout is not None
    first = watching.stdout.readline()  # watching now
    assert first.startswith(f"job {job.job_id} "), first
    started = time.monotonic()
    watching.send_signal(signal.SIGINT)
    out, err = watching.communicate(timeout=10)
    assert watching.returncode == 130, err
    assert time.monotonic() - started < 3  # not the reply's timeout
    assert f"stopped watching job {job.job_id}; it goes on" in out
    assert not client.job(job.job_id).ended
    assert client.cancel(job.job_id).state == "cancelled"
