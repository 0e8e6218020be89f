"""Cancellation at every stage, against the daemon as a real process on the simulated lab with
pacing (a job lasts as long as on hardware, so it can be caught running)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qconductor.protocol.client import Client
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.schedule import Idle, Schedule, SquarePulse, SSBIntegrationComplex
from tests.integration.daemon_process import (
    DaemonProcess,
    assert_loop_never_stalled,
    start_daemon,
    write_config,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("cancel")
    proc = start_daemon(write_config(tmp, mode="simulated", pacing=True))
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Client]:
    with Client(daemon.address, timeout_s=30) as c:
        yield c
        assert_loop_never_stalled(c.status)  # cancelling never blocks the event loop


def schedule(seconds: float) -> Schedule:
    """A readout after an idle: the job lasts about ``seconds`` with pacing."""
    s = Schedule(name="long", repetitions=1, clocks={"q0.ro": 150e6})
    s.add(Idle(duration=int(seconds * 1e9)))
    ro = s.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.2, duration=1000))
    s.add(
        SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    return s


def _code(call: object) -> ErrorCode:
    with pytest.raises(QconductorError) as info:
        call()  # type: ignore[operator]
    return info.value.code


def test_cancel_a_compiled_job(client: Client) -> None:
    job = client.compile(schedule(0.01))
    assert client.cancel(job.job_id).state == "cancelled"
    assert _code(lambda: client.arm(job.job_id)) == ErrorCode.JOB_STATE
    assert _code(lambda: client.retrieve(job.job_id, timeout_s=1)) == ErrorCode.JOB_CANCELLED
    assert _code(lambda: client.cancel(job.job_id)) == ErrorCode.JOB_STATE
    assert _code(lambda: client.cancel("nope")) == ErrorCode.UNKNOWN_JOB


def test_cancel_an_armed_job_releases_the_cluster(client: Client) -> None:
    job = client.compile(schedule(0.01))
    client.arm(job.job_id)
    assert client.status()["clusters"]["cluster0"]["owner"] == job.job_id
    client.cancel(job.job_id)
    assert client.status()["clusters"]["cluster0"]["owner"] is None
    assert client.submit(schedule(0.01), timeout_s=20).state == "done"


def test_cancel_a_running_job(client: Client) -> None:
    job = client.compile(schedule(5.0))
    client.arm(job.job_id)
    assert client.start(job.job_id).state == "running"
    cancelled = client.cancel(job.job_id)
    assert cancelled.state == "cancelled"
    assert "cancelled" in cancelled.timestamps
    assert _code(lambda: client.retrieve(job.job_id, timeout_s=2)) == ErrorCode.JOB_CANCELLED
    # the cluster is free at once: the next job does not wait for the cancelled one's 5 s
    assert client.submit(schedule(0.01), timeout_s=4).state == "done"


def test_a_finished_job_cannot_be_cancelled(client: Client) -> None:
    result = client.submit(schedule(0.01), timeout_s=20)
    assert _code(lambda: client.cancel(result.job_id)) == ErrorCode.JOB_STATE
