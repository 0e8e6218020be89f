"""The simulated lab behind the adapter port, and through the daemon as a real process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType as PyModule

import numpy as np
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.virtual.adapter import VirtualClusterAdapter
from qconductor.adapters.virtual.lab import load_lab
from qconductor.protocol.compiled import AcquisitionEntry, CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import load_hardware_config
from tests.integration.daemon_process import DEFAULT_HARDWARE, ROOT, start_daemon, write_config

pytestmark = pytest.mark.timeout(120)
AMPLITUDES = np.linspace(-0.8, 0.8, 17)


def _rabi_module() -> PyModule:
    spec = importlib.util.spec_from_file_location("rabi", ROOT / "examples" / "rabi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _job(repetitions: int = 128) -> CompiledJob:
    schedule = _rabi_module().rabi_schedule(-0.8, 0.8, len(AMPLITUDES), repetitions)
    job: CompiledJob = compile_schedule(schedule, load_hardware_config(DEFAULT_HARDWARE))
    return job


def _adapter(pacing: bool = False) -> VirtualClusterAdapter:
    return VirtualClusterAdapter("cluster0", {1: "QCM", 2: "QRM"}, load_lab(), pacing=pacing)


@pytest.mark.anyio
async def test_rabi_oscillates_through_the_adapter() -> None:
    adapter = _adapter()
    job = _job()
    await adapter.open()
    await adapter.arm(job)
    await adapter.start()
    await adapter.wait_done(30)
    data = (await adapter.retrieve(job))[0]
    assert data.shape == (len(AMPLITUDES),)
    signal = np.abs(data)
    ground, pi = signal[len(AMPLITUDES) // 2], signal.max()
    assert pi > 10 * max(ground, 0.005)  # the pi pulse flips the qubit; amplitude 0 does not
    # symmetric in the amplitude's sign, and maximal near the lab's pi amplitude (0.5)
    np.testing.assert_allclose(signal, signal[::-1], atol=0.02)
    assert abs(abs(AMPLITUDES[signal.argmax()]) - 0.5) <= 0.11
    await adapter.close()


@pytest.mark.anyio
async def test_module_mismatch_and_runtime_faults() -> None:
    adapter = VirtualClusterAdapter("cluster0", {1: "QCM", 2: "QCM"}, load_lab())
    with pytest.raises(QconductorError) as info:
        await adapter.arm(_job())
    assert info.value.code == ErrorCode.INSTRUMENT_MISMATCH
    assert info.value.path == "clusters[cluster0].modules[2]"
    # a program whose bins exceed what its acquisitions declare fails at run time, as on hardware
    job = _job()
    cluster = job.clusters[0]
    qrm = cluster.modules[1]
    seq = qrm.sequencers[0]
    assert seq.sequence is not None
    shrunk = seq.sequence.model_copy(
        update={"acquisitions": {"0": AcquisitionEntry(num_bins=2, index=0)}}
    )
    sequencers = [seq.model_copy(update={"sequence": shrunk}), *qrm.sequencers[1:]]
    modules = [cluster.modules[0], qrm.model_copy(update={"sequencers": sequencers})]
    broken = job.model_copy(update={"clusters": [cluster.model_copy(update={"modules": modules})]})
    adapter = _adapter()
    await adapter.arm(broken)
    await adapter.start()
    with pytest.raises(QconductorError) as info:
        await adapter.wait_done(30)
    assert info.value.code == ErrorCode.INSTRUMENT_ERROR
    assert "ACQ BIN INDEX INVALID" in info.value.message
    # the flag as data, for the failed job's record; it stays through stop, until the next arm
    await adapter.stop()
    assert await adapter.sequencer_flags() == {"module2.sequencer0": ["ACQ BIN INDEX INVALID"]}
    await adapter.arm(_job(repetitions=2))
    assert await adapter.sequencer_flags() == {}
    await adapter.start()
    await adapter.wait_done(30)
    assert await adapter.sequencer_flags() == {}


@pytest.mark.anyio
async def test_pacing_takes_as_long_as_the_hardware_would() -> None:
    job = _job(repetitions=2)  # 2 x 17 points x ~150 µs: about 5 ms of sequencer time
    adapter = _adapter(pacing=True)
    await adapter.arm(job)
    begin = time.monotonic()
    await adapter.start()
    await adapter.wait_done(30)
    assert time.monotonic() - begin >= job.duration_ns * 1e-9


def test_rabi_example_against_the_simulated_daemon(tmp_path: Path) -> None:
    daemon = start_daemon(write_config(tmp_path, mode="simulated"))
    try:
        out = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "rabi.py"),
                "--address",
                daemon.address,
                "--points",
                "9",
                "--repetitions",
                "64",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        assert daemon.stop() == 0
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("-0.", "0."))]
    assert len(rows) == 9
    magnitudes = np.array([float(r[3]) for r in rows])
    assert not np.isnan(magnitudes).any()
    assert magnitudes.max() > 5 * magnitudes[4]  # the middle point is amplitude 0
