"""End to end: the daemon as a real process, the client over real ZeroMQ sockets on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import zmq

from qconductor.protocol.client import Client
from qconductor.protocol.codec import decode
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import PROTOCOL_VERSION
from qconductor.protocol.schedule import Schedule, SquarePulse, SSBIntegrationComplex
from tests.integration.daemon_process import (
    DEFAULT_HARDWARE,
    ROOT,
    DaemonProcess,
    start_daemon,
    write_config,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("daemon")
    proc = start_daemon(write_config(tmp))
    yield proc
    assert proc.stop() == 0
    assert not (tmp / "tmp.q1asm").exists(), "the dummy's assembler wrote into the cwd"


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Client]:
    with Client(daemon.address, timeout_s=30) as c:
        yield c


def readout_schedule(bins: int = 3, port: str = "q0:res") -> Schedule:
    s = Schedule(name="readout", repetitions=8, clocks={"q0.01": 80e6, "q0.ro": 150e6})
    for b in range(bins):
        s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.3, duration=40))
        ro = s.add(SquarePulse(port=port, clock="q0.ro", amplitude=0.2, duration=1000), delay=4)
        s.add(
            SSBIntegrationComplex(port=port, clock="q0.ro", duration=900, bin_index=b),
            ref=ro,
            ref_pt="start",
            delay=100,
        )
    return s


def test_compile_arm_start_retrieve(client: Client) -> None:
    job = client.compile(readout_schedule(), include_program=True)
    assert job.state == "compiled"
    assert job.compiled is not None
    used = {(s["slot"], s["port"]) for s in job.sequencers}
    assert used == {(1, "q0:mw"), (2, "q0:res")}
    assert client.arm(job.job_id).state == "armed"
    assert client.start(job.job_id).state in ("running", "done")
    result = client.retrieve(job.job_id, timeout_s=20)
    assert result.state == "done"
    data = result.acquisitions[0]
    assert data.shape == (3,)
    assert data.dtype == np.complex128  # NaN: the dummy cluster executes nothing
    assert {"compiled", "armed", "running", "done"} <= set(result.timestamps)


def test_submit_is_the_four_in_one(client: Client) -> None:
    result = client.submit(readout_schedule(bins=5), timeout_s=20)
    assert result.state == "done"
    assert result.acquisitions[0].shape == (5,)


def test_verbs_in_the_wrong_order_are_refused(client: Client) -> None:
    job = client.compile(readout_schedule())
    with pytest.raises(QconductorError) as info:
        client.start(job.job_id)
    assert info.value.code == ErrorCode.JOB_STATE
    with pytest.raises(QconductorError) as info:
        client.arm("no-such-job")
    assert info.value.code == ErrorCode.UNKNOWN_JOB
    assert info.value.path == "args.job_id"


def test_port_no_config_connects(client: Client) -> None:
    with pytest.raises(QconductorError) as info:
        client.compile(readout_schedule(port="q7:res"))
    assert info.value.code == ErrorCode.PORT_NOT_CONNECTED
    assert info.value.path == "args.schedule.operations[1].op.port"
    assert "q7:res" in info.value.message
    assert client.status()["protocol"] == PROTOCOL_VERSION  # and the daemon serves on


def test_invalid_hardware_config(client: Client) -> None:
    bad = json.loads(DEFAULT_HARDWARE.read_text())
    bad["hardware_description"]["cluster0"]["modules"]["2"]["instrument_type"] = "QRM_XL"
    with pytest.raises(QconductorError) as info:
        client.compile(readout_schedule(), hardware_config=bad)
    paths = [d.path for d in info.value.details] or [info.value.path]
    assert any(
        p.startswith("args.hardware_config.hardware_description.cluster0.modules.2") for p in paths
    ), paths
    assert info.value.code.startswith("CONFIG_")
    assert client.submit(readout_schedule(bins=1)).state == "done"


def _raw(address: str, frames: list[bytes]) -> dict[str, Any]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)
    try:
        sock.connect(address)
        sock.send_multipart(frames)
        reply = decode(sock.recv_multipart())
    finally:
        sock.close()
        ctx.term()
    assert isinstance(reply, dict)
    return reply


def test_malformed_message(daemon: DaemonProcess, client: Client) -> None:
    reply = _raw(daemon.address, [b"\xc1 definitely not msgpack"])
    assert reply["ok"] is False
    assert reply["error"]["code"] == ErrorCode.MALFORMED_MESSAGE
    assert client.status()["jobs"] is not None


def test_unknown_verb(daemon: DaemonProcess) -> None:
    msg = msgpack.packb({"v": PROTOCOL_VERSION, "id": 42, "verb": "launch", "args": {}})
    reply = _raw(daemon.address, [msg])
    assert reply["id"] == 42
    assert reply["error"]["code"] == ErrorCode.UNKNOWN_VERB
    assert reply["error"]["path"] == "verb"


def test_example_rabi_prints_acquisitions(daemon: DaemonProcess) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "rabi.py"),
            "--address",
            daemon.address,
            "--points",
            "5",
            "--repetitions",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "done" in out
    rows = [line for line in out.splitlines() if line.strip().startswith(("-0.", "0."))]
    assert len(rows) == 5


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_shutdown_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    proc = start_daemon(write_config(tmp_path))
    with Client(proc.address, timeout_s=10) as c:
        assert c.status()["clusters"]["cluster0"]["owner"] is None
    assert proc.stop(sig) == 0
    assert '"stopped"' in proc.stderr()


def _bad_hardware(tmp_path: Path) -> Path:
    bad = json.loads(DEFAULT_HARDWARE.read_text())
    bad["hardware_description"]["cluster0"]["modules"]["2"]["instrument_type"] = "QRM_XL"
    bad["hardware_options"]["modulation_frequencies"]["q0:mw-q0.01"]["intermfreq"] = 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    return path


def test_invalid_hardware_config_refused_at_start(tmp_path: Path) -> None:
    bad = _bad_hardware(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qconductor",
            "serve",
            "--config",
            str(write_config(tmp_path, hardware=bad)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    check = subprocess.run(
        [sys.executable, "-m", "qconductor", "config", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1
    # the daemon reports every error that `config check` reports, with the same text
    for line in check.stdout.splitlines():
        if line.startswith("error: "):
            assert line.removeprefix("error: ") in proc.stderr
    assert "hardware_description.cluster0.modules.2.instrument_type" in proc.stderr
    assert "intermfreq" in proc.stderr


def _wait_for_reload(client: Client, *, after: float, error: bool) -> dict[str, Any]:
    """Poll status (bounded) until the SIGHUP has been handled one way or the other."""
    for _ in range(200):
        hw: dict[str, Any] = client.status()["hardware_config"]
        if error and hw["last_reload_error"] is not None:
            return hw
        if not error and hw["loaded_at"] > after and hw["last_reload_error"] is None:
            return hw
        time.sleep(0.05)
    raise AssertionError("the daemon did not handle SIGHUP")


def test_sighup_reloads_and_refuses_invalid(tmp_path: Path) -> None:
    hardware = tmp_path / "hw.json"
    hardware.write_text(DEFAULT_HARDWARE.read_text())
    proc = start_daemon(write_config(tmp_path, hardware=hardware))
    try:
        with Client(proc.address, timeout_s=10) as c:
            loaded = c.status()["hardware_config"]["loaded_at"]
            # an invalid file: refused with the config-check diagnostics, the old one kept
            hardware.write_text(_bad_hardware(tmp_path).read_text())
            proc.proc.send_signal(signal.SIGHUP)
            hw = _wait_for_reload(c, after=loaded, error=True)
            assert hw["last_reload_error"]["code"].startswith("CONFIG_")
            assert c.submit(readout_schedule(bins=1)).state == "done"
            # a valid change (another drive IF) takes effect for later compiles
            raw = json.loads(DEFAULT_HARDWARE.read_text())
            raw["hardware_options"]["modulation_frequencies"]["q0:mw-q0.01"]["interm_freq"] = 90e6
            hardware.write_text(json.dumps(raw))
            proc.proc.send_signal(signal.SIGHUP)
            _wait_for_reload(c, after=loaded, error=False)
            sched = readout_schedule(bins=1)
            sched.add_clock("q0.01", 90e6)
            assert c.compile(sched).state == "compiled"
    finally:
        assert proc.stop() == 0


def test_event_loop_never_stalls_while_serving_jobs(tmp_path: Path) -> None:
    """Issue 6: the daemon's loop stays responsive (< 50 ms late) through compile, arm, run and
    retrieve of real jobs on the simulated lab."""
    daemon = start_daemon(write_config(tmp_path, mode="simulated"))
    try:
        with Client(daemon.address, timeout_s=30) as c:
            for bins in (1, 5, 20):
                assert c.submit(readout_schedule(bins=bins), timeout_s=20).state == "done"
            # a stall is recorded when the monitor next wakes: let it wake a few times
            for _ in range(100):
                lag = c.status()["event_loop_lag"]
                if lag["samples"] >= 3:
                    break
                time.sleep(0.02)
    finally:
        assert daemon.stop() == 0
    assert lag["samples"] > 0
    assert lag["max_ms"] < 50, lag
