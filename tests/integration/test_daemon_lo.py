"""External local oscillators through the daemon: the daemon (a real process) sets each LO a job
needs, RF = LO + IF, before arming; an LO it does not own, or one that refuses, fails the job in
phase "arm". In process: a job over every module type on the dummy cluster, with two LOs, and
what reached the simulated LOs and the driver."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from qconductor.adapters.base import InstrumentAdapter
from qconductor.adapters.lo import LocalOscillatorAdapter, SimulatedLocalOscillator
from qconductor.adapters.qblox.instrument import QbloxClusterAdapter
from qconductor.daemon.app import build_adapters, build_local_oscillators
from qconductor.daemon.config import DaemonConfig
from qconductor.daemon.service import Service
from qconductor.protocol.client import Client
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import load_hardware_config
from qconductor.protocol.messages import SubmitArgs
from qconductor.protocol.schedule import Schedule, SquarePulse, SSBIntegrationComplex
from tests.integration.daemon_process import ROOT, DaemonProcess, start_daemon, write_config

pytestmark = pytest.mark.timeout(120)

IF_HZ = 100e6
MIXED: dict[str, Any] = {
    "version": "0.2",
    "hardware_description": {
        "cluster0": {
            "instrument_type": "Cluster",
            "ref": "internal",
            "modules": {"1": {"instrument_type": "QCM"}, "2": {"instrument_type": "QRM"}},
        },
        "lo0": {"instrument_type": "LocalOscillator", "instrument_name": "sim_lo", "power": 10},
        "mixer0": {"instrument_type": "IQMixer"},
    },
    "hardware_options": {"modulation_frequencies": {"q0:mw-q0.01": {"interm_freq": IF_HZ}}},
    "connectivity": {
        "graph": [
            ["cluster0.module1.complex_output_0", "mixer0.if"],
            ["lo0.output", "mixer0.lo"],
            ["mixer0.rf", "q0:mw"],
        ]
    },
}
LO_ENTRY = '\n[[local_oscillators]]\nname = "sim_lo"\ndriver = "simulated"\n'


def drive(clock_hz: float) -> Schedule:
    s = Schedule(name="lo", repetitions=4, clocks={"q0.01": clock_hz})
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.3, duration=100))
    return s


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("daemon_lo")
    hardware = tmp / "mixed.json"
    hardware.write_text(json.dumps(MIXED))
    proc = start_daemon(write_config(tmp, hardware=hardware, extra=LO_ENTRY))
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Client]:
    with Client(daemon.address, timeout_s=30) as c:
        yield c


def test_submit_sets_the_lo_to_rf_minus_if(client: Client) -> None:
    for rf in (6.1e9, 7.25e9):
        result = client.submit(drive(rf), timeout_s=20)
        assert result.state == "done"
        lo = client.status()["local_oscillators"]["sim_lo"]
        assert lo["healthy"] is True
        assert lo["driver"] == "simulated"
        assert lo["settings"] == {"frequency": rf - IF_HZ, "power": 10.0, "status": True}


def test_an_lo_that_refuses_fails_the_job_in_arm(client: Client) -> None:
    job = client.compile(drive(1.1e9))  # LO 1.0 GHz: below the simulated source's 2 GHz
    with pytest.raises(QconductorError) as info:
        client.arm(job.job_id)
    assert info.value.code == ErrorCode.INSTRUMENT_ERROR
    assert info.value.path == "local_oscillators[lo0].frequency"
    with pytest.raises(QconductorError) as failed:
        client.retrieve(job.job_id, timeout_s=5)
    assert "failed during arm" in failed.value.message
    assert client.submit(drive(6.1e9), timeout_s=20).state == "done"  # the clusters were freed


def test_an_lo_the_daemon_does_not_own_fails_the_job_in_arm(client: Client) -> None:
    other: dict[str, Any] = copy.deepcopy(MIXED)
    other["hardware_description"]["lo0"]["instrument_name"] = "bench_source"
    with pytest.raises(QconductorError) as info:
        client.submit(drive(6.1e9), hardware_config=other, timeout_s=20)
    assert info.value.code == ErrorCode.INSTRUMENT_MISMATCH
    assert info.value.path == "local_oscillators[lo0]"
    assert "'bench_source'" in info.value.message
    assert "sim_lo" in info.value.message  # what the daemon does own


# --- in process: every module type, two LOs -----------------------------------------------------

TRANSMON = ROOT / "config" / "hardware" / "transmon_full.json"


def four_module_hardware(tmp: Path) -> Path:
    """transmon_full.json without its QRC and QTM, which the cluster adapter does not drive."""
    raw: dict[str, Any] = json.loads(TRANSMON.read_text())
    modules = raw["hardware_description"]["cluster0"]["modules"]
    del modules["5"], modules["6"]
    graph = raw["connectivity"]["graph"]
    raw["connectivity"]["graph"] = [
        e for e in graph if not any(f".module{n}." in json.dumps(e) for n in (5, 6))
    ]
    raw["hardware_description"]["cluster0"]["ip"] = None
    path = tmp / "four_modules.json"
    path.write_text(json.dumps(raw))
    return path


def every_module() -> Schedule:
    s = Schedule(
        name="all",
        repetitions=3,
        clocks={"q0.01": 6.1e9, "q0.ro": 7.3e9, "q1.01": 5.1e9, "q1.ro": 7.6e9},
    )
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.3, duration=40), at=0)
    s.add(SquarePulse(port="q1:mw", clock="q1.01", amplitude=0.3, duration=40), at=0)
    for port, clock, channel in (("q0:res", "q0.ro", 0), ("q1:res", "q1.ro", 1)):
        s.add(SquarePulse(port=port, clock=clock, amplitude=0.2, duration=500), at=100)
        s.add(
            SSBIntegrationComplex(port=port, clock=clock, duration=400, acq_channel=channel),
            at=200,
        )
    return s


@contextlib.asynccontextmanager
async def running_service(tmp: Path) -> AsyncIterator[Service]:
    """The daemon's service with its real adapters (dummy cluster, simulated LOs)."""
    config = DaemonConfig.model_validate(
        {
            "hardware": {"config": four_module_hardware(tmp)},
            "clusters": [{"name": "cluster0"}],
            "local_oscillators": [{"name": "sgs100a_1"}, {"name": "lo_readout"}],
        }
    )
    hardware = load_hardware_config(config.hardware.config)
    clusters = build_adapters(config, hardware)
    oscillators = build_local_oscillators(config, hardware)
    instruments: list[InstrumentAdapter | LocalOscillatorAdapter] = [
        *clusters.values(),
        *oscillators.values(),
    ]
    try:
        async with anyio.create_task_group() as tg:
            for adapter in instruments:
                await adapter.open()
            yield Service(config, hardware, clusters, tg, oscillators)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            for adapter in instruments:
                await adapter.close()


@pytest.mark.anyio
async def test_every_module_type_and_both_los(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        result = await service.submit(SubmitArgs(schedule=every_module(), timeout_s=30))
        assert result["state"] == "done"
        logs = {}
        for name, lo in service.local_oscillators.items():
            instrument = await lo.run_on_driver(lambda i: i)
            assert isinstance(instrument, SimulatedLocalOscillator)
            logs[name] = list(instrument.set_log)
        cluster = service.adapters["cluster0"]
        assert isinstance(cluster, QbloxClusterAdapter)
        values = await cluster.run_on_driver(_read_back)
    assert logs == {  # frequency and power first, the output switched on last
        "sgs100a_1": [("frequency", 6.0e9), ("power", 12.0), ("status", True)],
        "lo_readout": [("frequency", 7.2e9), ("power", 10.0), ("status", True)],
    }
    assert values == {
        "qcm_out0_offset": 0.012,
        "qrm_in0_gain": 4,
        "qcm_rf_out0_att": 10,
        "qcm_rf_out0_lo_freq": 5.0e9,
        "qcm_rf_connect_out0": "IQ",
        "qrm_rf_in0_att": 10,
        "qrm_rf_lo_freq": 7.5e9,
        "qrm_rf_connect_acq": "in0",
    }


def _read_back(c: Any) -> dict[str, Any]:
    """On the driver thread: what the dummy modules and sequencers now hold."""
    rf, rf_in = c.modules[2], c.modules[3]
    return {
        "qcm_out0_offset": c.modules[0].out0_offset(),
        "qrm_in0_gain": c.modules[1].in0_gain(),
        "qcm_rf_out0_att": rf.out0_att(),
        "qcm_rf_out0_lo_freq": rf.out0_lo_freq(),
        "qcm_rf_connect_out0": rf.sequencers[0].connect_out0(),
        "qrm_rf_in0_att": rf_in.in0_att(),
        "qrm_rf_lo_freq": rf_in.out0_in0_lo_freq(),
        "qrm_rf_connect_acq": rf_in.sequencers[0].connect_acq(),
    }
