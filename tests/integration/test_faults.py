"""Bad input and faults, against the daemon as a real process on the simulated lab: instrument
calls that raise or hang (the test-only ``faults`` of a simulated cluster), a sequencer that
faults while running, cancellation racing with completion, a client that vanishes mid-job,
truncated and oversized messages, and SIGTERM while a job runs. After each, the daemon serves
the next job, and its event loop was never more than 50 ms late."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import msgpack
import pytest
import zmq

from qconductor.protocol.client import AsyncClient, Client, JobInfo
from qconductor.protocol.codec import ARRAY_EXT, decode, encode
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import PROTOCOL_VERSION, SubmitArgs, request_message
from qconductor.protocol.schedule import Schedule
from qconductor.protocol.stream import StreamMessage, Subscriber, job_prefix, state_stream
from tests.integration.daemon_process import (
    ROOT,
    DaemonProcess,
    assert_loop_never_stalled,
    start_daemon,
    write_config,
)
from tests.integration.test_cancel import schedule

pytestmark = pytest.mark.timeout(120)
FAULTS = """faults = [
  { stage = "start", action = "raise", schedule_prefix = "raise-start" },
  { stage = "retrieve", action = "hang", schedule_prefix = "hang-retrieve" },
  { stage = "arm", action = "hang", schedule_prefix = "hang-arm" },
  { stage = "arm", action = "corrupt", schedule_prefix = "corrupt" },
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
        assert_loop_never_stalled(c.status)  # through whatever the test did


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


def test_a_sequencer_that_faults_fails_its_job_with_the_flags_as_data(
    daemon: DaemonProcess, client: Client
) -> None:
    job = client.enqueue(named("corrupt-upload"))  # its sequencer faults while running
    ended = client.wait(job.job_id, timeout_s=20)
    assert ended.state == "failed"
    assert ended.error is not None
    assert (ended.error["phase"], ended.error["code"]) == ("run", ErrorCode.INSTRUMENT_ERROR)
    assert ended.error["message"].startswith("ACQ INDEX INVALID: ")
    flags = {"cluster0": {"module2.sequencer0": ["ACQ INDEX INVALID"]}}
    assert ended.flags == flags
    assert client.job(job.job_id).flags == flags
    assert ended.error["instrument"]["cluster0"]["healthy"] is True
    # a blocking submit gets the error, which names the job whose flags to ask for
    with pytest.raises(QconductorError) as info:
        client.submit(named("corrupt-again"), timeout_s=20)
    assert info.value.code == ErrorCode.INSTRUMENT_ERROR
    assert info.value.job_id is not None
    assert client.job(info.value.job_id).flags == flags
    # published with the failure on the job's state stream
    last = client.replay(state_stream(job.job_id), 1)[-1]
    assert (last.meta["state"], last.meta["phase"], last.meta["flags"]) == ("failed", "run", flags)
    # and shown by the command line
    watched = subprocess.run(
        [sys.executable, "-m", "qconductor", "watch", job.job_id, "--address", daemon.address],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert watched.returncode == 1
    assert "(flags: cluster0.module2.sequencer0 ACQ INDEX INVALID)" in watched.stdout
    assert client.submit(schedule(0.01), timeout_s=20).state == "done"


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
    job_id = info.value.job_id  # the error names its job
    assert job_id is not None
    assert info.value.message.startswith(f"job {job_id} failed")
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


def _sigterm_while_a_job_runs(
    daemon: DaemonProcess, name: str
) -> tuple[str, str, list[StreamMessage], float, JobInfo]:
    """Queue a 10 s job named ``name`` and another behind it, SIGTERM the daemon while the
    first runs, and follow both jobs' states on the data socket until the daemon has exited:
    (running id, waiting id, states received, seconds from the signal to the exit, what a
    client waiting for the running job was told)."""
    with Client(daemon.address, timeout_s=10) as c:
        running = c.enqueue(named(name, 10.0)).job_id
        waiting = c.enqueue(schedule(0.01)).job_id
        deadline = time.monotonic() + 10
        while c.job(running).state != "running":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert_loop_never_stalled(c.status)

    async def follow() -> tuple[list[StreamMessage], float, JobInfo]:
        told: list[JobInfo] = []

        async def wait_for_it(client: AsyncClient) -> None:
            told.append(await client.wait(running, timeout_s=30))

        async with (
            AsyncClient(daemon.address, timeout_s=10) as c,
            AsyncClient(daemon.address, timeout_s=10) as waiter,
            Subscriber(daemon.data_address) as sub,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(wait_for_it, waiter)
            for job_id in (running, waiting):
                sub.subscribe(job_prefix(job_id), from_start=False)
            for _ in range(1000):  # heartbeat and both prefixes seen by the daemon (10 s)
                if (await c.status())["streams"]["subscriptions"] >= 3:
                    break
                await anyio.sleep(0.01)
            else:
                raise AssertionError("the daemon never saw the subscriptions")
            started = time.monotonic()
            daemon.proc.send_signal(signal.SIGTERM)
            got: list[StreamMessage] = []
            with anyio.move_on_after(15):
                while len([m for m in got if m.meta.get("state") == "cancelled"]) < 2:
                    got.append(await sub.recv())
            await anyio.to_thread.run_sync(daemon.proc.wait, 15)
            seconds = time.monotonic() - started
        return got, seconds, told[0]

    got, seconds, told = anyio.run(follow)
    return running, waiting, got, seconds, told


def test_sigterm_while_a_job_runs_stops_it_marks_it_and_exits(tmp_path: Path) -> None:
    daemon = start_daemon(write_config(tmp_path, mode="simulated", pacing=True))
    try:
        running, waiting, got, seconds, told = _sigterm_while_a_job_runs(daemon, "long")
    finally:
        daemon.stop(signal.SIGKILL)
    assert daemon.proc.returncode == 0
    assert seconds < 5  # not the job's 10 s
    # the hardware was stopped, then the job marked, and the change published before the
    # data socket closed
    events = [r["event"] for r in records_of(daemon, running)]
    assert events.index("sequencers stopped") < events.index("cancelled")
    reasons = {m.stream: m.meta.get("reason") for m in got if m.meta.get("state") == "cancelled"}
    assert reasons == {
        state_stream(running): "cancelled: the daemon stopped while it ran",
        state_stream(waiting): "cancelled: the daemon stopped before it ran",
    }
    assert "stopped" in [r["event"] for r in daemon.log_records()]
    # a client waiting for the job was told how it ended before the daemon went
    assert told.state == "cancelled"
    assert told.error is not None
    assert told.error["reason"] == "cancelled: the daemon stopped while it ran"


def test_sigterm_with_a_stop_that_hangs_still_ends_in_time(tmp_path: Path) -> None:
    """The stop sequence has a deadline at every step: a stop call that never returns is given
    up after call_timeout_s, the job is still marked and published, and the daemon exits."""
    faults = 'faults = [{ stage = "stop", action = "hang", schedule_prefix = "hang-stop" }]'
    config = write_config(
        tmp_path,
        mode="simulated",
        pacing=True,
        cluster_extra=faults,
        extra=f"\n[instrument]\ncall_timeout_s = {CALL_TIMEOUT_S}\n",
    )
    daemon = start_daemon(config)
    try:
        running, _, got, seconds, told = _sigterm_while_a_job_runs(daemon, "hang-stop")
    finally:
        daemon.stop(signal.SIGKILL)
    assert daemon.proc.returncode == 0
    assert seconds < CALL_TIMEOUT_S + 4
    events = [r["event"] for r in records_of(daemon, running)]
    assert "stopping the sequencers failed" in events
    cancelled = [m for m in got if m.stream == state_stream(running)]
    assert cancelled[-1].meta["state"] == "cancelled"
    assert told.state == "cancelled"
