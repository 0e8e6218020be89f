"""Bad input and faults, against the daemon as a real process on the simulated lab: instrument
calls that raise or hang (the test-only ``faults`` of a simulated cluster), cancellation
racing with completion, a client that vanishes mid-job, truncated and oversized messages, and
SIGTERM while a job runs. After each, the daemon serves the next job."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from qconductor.protocol.client import Client
from qconductor.protocol.codec import ARRAY_EXT, decode, encode
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import PROTOCOL_VERSION, SubmitArgs, request_message
from qconductor.protocol.schedule import Schedule
from tests.integration.daemon_process import DaemonProcess, start_daemon, write_config
from tests.integration.test_cancel import schedule

pytestmark = pytest.mark.timeout(120)
FAULTS = """faults = [
  { stage = "start", action = "raise", schedule_prefix = "raise-start" },
  { stage = "retrieve", action = "hang", schedule_prefix = "hang-retrieve" },
  { stage = "arm", action = "hang", schedule_prefix = "hang-arm" },
]"""
CALL_TIMEOUT_S = 0.3
MAX_MESSAGE_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("faults")
    config = write_config(
        tmp,
        mode="simulated",
        pacing=True,
        cluster_extra=FAULTS,
        extra=f"""
[instrument]
call_timeout_s = {CALL_TIMEOUT_S}
""",
    )
    text = config.read_text().replace(
        "[streams]", f"max_message_bytes = {MAX_MESSAGE_BYTES}\n\n[streams]", 1
    )
    config.write_text(text)
    proc = start_daemon(config)
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Client]:
    with Client(daemon.address, timeout_s=30) as c:
        yield c


def named(name: str, seconds: float = 0.01) -> Schedule:
    return schedule(seconds).model_copy(update={"name": name})


def records_of(daemon: DaemonProcess, job_id: str) -> list[dict[str, Any]]:
    return [r for r in daemon.log_records() if r.get("job_id") == job_id]


def test_an_instrument_call_that_raises_fails_only_its_job(
    daemon: DaemonProcess, client: Client
) -> None:
    job = client.enqueue(named("raise-start-1"))
    ended = client.wait(job.job_id, timeout_s=20)
    assert ended.state == "failed"
    assert ended.error is not None
    assert ended.error["phase"] == "start"
    assert ended.error["code"] == ErrorCode.INSTRUMENT_ERROR
    assert "injected" in ended.error["message"]
    assert ended.error["instrument"]["cluster0"]["healthy"] is True  # the status it reported
    assert "failed" in ended.timestamps
    with pytest.raises(QconductorError) as info:
        client.retrieve(job.job_id, timeout_s=1)
    assert info.value.code == ErrorCode.INSTRUMENT_ERROR
    assert "during start" in info.value.message
    assert client.submit(schedule(0.01), timeout_s=20).state == "done"
    events = [r["event"] for r in records_of(daemon, job.job_id)]
    assert "sequencers stopped" in events  # the hardware was left safe


@pytest.mark.parametrize(("name", "phase"), [("hang-retrieve", "retrieve"), ("hang-arm", "arm")])
def test_a_hung_instrument_call_meets_its_deadline(
    daemon: DaemonProcess, client: Client, name: str, phase: str
) -> None:
    started = time.monotonic()
    with pytest.raises(QconductorError) as info:
        client.submit(named(name), timeout_s=20)
    assert info.value.code == ErrorCode.INSTRUMENT_TIMEOUT
    assert time.monotonic() - started < 5
    assert f"during {phase}" in info.value.message
    job_id = info.value.message.split()[1]
    assert client.job(job_id).error["phase"] == phase  # type: ignore[index]
    assert "sequencers stopped" in [r["event"] for r in records_of(daemon, job_id)]
    assert client.submit(schedule(0.01), timeout_s=20).state == "done"


def test_cancel_racing_with_completion_ends_in_exactly_one_state(client: Client) -> None:
    outcomes: set[str] = set()
    for k in range(40):  # the cancel comes later and later, until both orders were seen
        if k >= 8 and len(outcomes) == 2:
            break
        job = client.enqueue(schedule(0.004))
        time.sleep(0.002 * k)
        refused: ErrorCode | None = None
        try:
            client.cancel(job.job_id)
        except QconductorError as exc:  # it ended first
            refused = exc.code
        assert refused in (None, ErrorCode.JOB_STATE)
        outcome = "cancelled" if refused is None else "done"
        ended = client.wait(job.job_id, timeout_s=10)
        assert ended.state == outcome
        assert len({"done", "failed", "cancelled"} & set(ended.timestamps)) == 1
        outcomes.add(outcome)
    assert outcomes == {"cancelled", "done"}  # both orders happened
    assert client.submit(schedule(0.01), timeout_s=20).state == "done"


def _socket(address: str) -> tuple[zmq.Context[zmq.Socket[bytes]], zmq.Socket[bytes]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 2_000)
    sock.connect(address)
    return ctx, sock


def test_a_client_that_disconnects_mid_job_harms_nobody(
    daemon: DaemonProcess, client: Client
) -> None:
    done_before = client.status()["jobs"]["done"]
    ctx, sock = _socket(daemon.address)
    args = SubmitArgs(schedule=named("vanishing", 0.2), client="vanishing")
    sock.send_multipart(encode(request_message(1, args)))  # a blocking submit...
    time.sleep(0.05)
    sock.close()  # ...whose client goes away before the reply
    ctx.term()
    assert client.submit(schedule(0.01), timeout_s=20).state == "done"  # queued behind it
    status = client.status()
    assert status["jobs"]["done"] == done_before + 2  # the vanished client's job completed
    assert status["queue"]["depth"] == 0


def test_truncated_and_oversized_messages(daemon: DaemonProcess, client: Client) -> None:
    ctx, sock = _socket(daemon.address)
    try:
        # an array whose frame holds fewer bytes than its header promises
        header = msgpack.packb([1, "<f8", [100]])
        array = msgpack.packb({"a": msgpack.ExtType(ARRAY_EXT, header)})
        sock.send_multipart([array, b"\0" * 8])
        assert decode(sock.recv_multipart())["error"]["code"] == ErrorCode.MALFORMED_MESSAGE
        # a request cut short
        whole = msgpack.packb({"v": PROTOCOL_VERSION, "id": 6, "verb": "status", "args": {}})
        sock.send_multipart([whole[:-3]])
        assert decode(sock.recv_multipart())["error"]["code"] == ErrorCode.MALFORMED_MESSAGE
        # over max_message_bytes: ZeroMQ drops the peer; no reply, the daemon serves on
        sock.send_multipart([b"\x90" * (MAX_MESSAGE_BYTES + 1)])
        with pytest.raises(zmq.Again):
            sock.recv_multipart()
    finally:
        sock.close()
        ctx.term()
    assert client.submit(schedule(0.01), timeout_s=20).state == "done"


def test_sigterm_while_a_job_runs_stops_it_and_exits(tmp_path: Path) -> None:
    daemon = start_daemon(write_config(tmp_path, mode="simulated", pacing=True))
    try:
        with Client(daemon.address, timeout_s=10) as c:
            running = c.enqueue(schedule(10.0))
            waiting = c.enqueue(schedule(0.01))
            deadline = time.monotonic() + 10
            while c.job(running.job_id).state != "running":
                assert time.monotonic() < deadline
                time.sleep(0.01)
        started = time.monotonic()
        assert daemon.stop(signal.SIGTERM, timeout_s=10) == 0
        assert time.monotonic() - started < 5  # not the job's 10 s
    finally:
        daemon.stop(signal.SIGKILL)
    ran = records_of(daemon, running.job_id)
    events = [r["event"] for r in ran]
    assert "sequencers stopped" in events
    cancelled = [r for r in ran if r["event"] == "cancelled"]
    assert cancelled
    assert "daemon stopped" in cancelled[0]["reason"]
    assert "stopped" in [r["event"] for r in daemon.log_records()]
    queued = [r for r in records_of(daemon, waiting.job_id) if r["event"] == "cancelled"]
    assert "before it ran" in queued[0]["reason"]
