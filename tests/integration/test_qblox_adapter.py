"""The Qblox adapter against the driver's real dummy cluster, awaited from an asyncio loop."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from qblox_instruments import DummyBinnedAcquisitionData, SequencerStatus

from qconductor.adapters.qblox.driver_thread import ClusterSession
from qconductor.adapters.qblox.instrument import QbloxClusterAdapter
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.protocol.compiled import (
    AcquisitionEntry,
    AcquisitionSpec,
    ClusterProgram,
    CompiledJob,
    ModuleProgram,
    ModuleType,
    SequenceDict,
    SequencerProgram,
    SequencerSettings,
    WaveformEntry,
)
from qconductor.protocol.errors import ErrorCode, QconductorError

pytestmark = pytest.mark.anyio

NAME = "cl0"
QCM_PROGRAM = "wait_sync 4\nplay 0,1,20\nstop"
QRM_PROGRAM = "wait_sync 4\nacquire 0,0,400\nacquire 0,1,400\nacquire 0,2,400\nstop"
BAD_PROGRAM = "wait_sync 4\nbogus 3\nstop"
INTEGRATION_LENGTH = 300


def make_job(
    *, qcm_program: str = QCM_PROGRAM, nco_freq: float = 50e6, slot2: ModuleType = "QCM"
) -> CompiledJob:
    """A QCM sequencer playing a 20-sample waveform, a QRM sequencer acquiring 3 bins."""
    off = SequencerSettings(sync_en=False, connect_out0="off", connect_out1="off")
    play = SequenceDict(
        waveforms={
            "i": WaveformEntry(data=[0.5] * 20, index=0),
            "q": WaveformEntry(data=[0.0] * 20, index=1),
        },
        program=qcm_program,
    )
    play_settings = SequencerSettings(
        sync_en=True, nco_freq=nco_freq, mod_en_awg=True, connect_out0="I", connect_out1="Q"
    )
    qcm = ModuleProgram(
        slot=2,
        module_type=slot2,
        parameters={"out0_offset": 0.1},
        sequencers=[
            SequencerProgram(index=0, sequence=play, settings=play_settings),
            SequencerProgram(index=1, settings=off),
        ],
    )
    acquire = SequenceDict(
        acquisitions={"acq0": AcquisitionEntry(num_bins=3, index=0)}, program=QRM_PROGRAM
    )
    acquire_settings = SequencerSettings(
        sync_en=True,
        nco_freq=100e6,
        demod_en_acq=True,
        connect_acq_I="in0",
        connect_acq_Q="in1",
        integration_length_acq=INTEGRATION_LENGTH,
    )
    qrm = ModuleProgram(
        slot=4,
        module_type="QRM",
        parameters={"in0_gain": 4},
        sequencers=[SequencerProgram(index=0, sequence=acquire, settings=acquire_settings)],
    )
    spec = AcquisitionSpec(
        acq_channel=0,
        kind="ssb_integration",
        bin_mode="average",
        num_bins=3,
        cluster=NAME,
        slot=4,
        sequencer=0,
        acq_name="acq0",
        acq_index=0,
        integration_length=INTEGRATION_LENGTH,
        port="q0:res",
        clock="q0.ro",
    )
    return CompiledJob(
        schedule_name="hand_made",
        repetitions=1,
        repetition_duration_ns=2000,
        clusters=[ClusterProgram(name=NAME, modules=[qcm, qrm])],
        acquisitions=[spec],
        content_hash="hand-made",
    )


class Ticker:
    """A task that ticks every millisecond and records the longest gap between ticks."""

    def __init__(self) -> None:
        self.ticks = 0
        self.max_gap_s = 0.0

    async def run(self) -> None:
        last = time.perf_counter()
        while True:
            await anyio.sleep(0.001)
            now = time.perf_counter()
            self.max_gap_s = max(self.max_gap_s, now - last)
            self.ticks += 1
            last = now


@pytest.fixture
async def adapter() -> AsyncIterator[QbloxClusterAdapter]:
    instrument = QbloxClusterAdapter(NAME, dummy_modules={2: "QCM", 4: "QRM"}, timeout_s=5.0)
    await instrument.open()
    try:
        yield instrument
    finally:
        await instrument.close()


async def run_job(adapter: QbloxClusterAdapter, job: CompiledJob) -> dict[int, Any]:
    await adapter.arm(job)
    await adapter.start()
    await adapter.wait_done(timeout_s=2.0)
    return dict(await adapter.retrieve(job))


def read_back(cluster: Any) -> dict[str, Any]:
    qcm, qrm = cluster.module2, cluster.module4
    return {
        "nco_freq": qcm.sequencer0.nco_freq(),
        "mod_en_awg": qcm.sequencer0.mod_en_awg(),
        "sync_en": qcm.sequencer0.sync_en(),
        "connect_out0": qcm.sequencer0.connect_out0(),
        "seq1_connect_out0": qcm.sequencer1.connect_out0(),
        "out0_offset": qcm.out0_offset(),
        "in0_gain": qrm.in0_gain(),
        "integration_length_acq": qrm.sequencer0.integration_length_acq(),
        "demod_en_acq": qrm.sequencer0.demod_en_acq(),
        "connect_acq_I": qrm.sequencer0.connect_acq_I(),
        "waveform_i": cluster.get_waveforms(2, 0)["i"]["data"],
    }


async def test_job_runs_and_settings_reach_the_dummy(adapter: QbloxClusterAdapter) -> None:
    data = await run_job(adapter, make_job())

    assert await adapter.run_on_driver(read_back) == {
        "nco_freq": 50e6,
        "mod_en_awg": True,
        "sync_en": True,
        "connect_out0": "I",
        "seq1_connect_out0": "off",
        "out0_offset": 0.1,
        "in0_gain": 4,
        "integration_length_acq": INTEGRATION_LENGTH,
        "demod_en_acq": True,
        "connect_acq_I": "in0",
        "waveform_i": pytest.approx([0.5] * 20, abs=1e-4),
    }
    assert [(s.slot, s.sequencer, s.state) for s in adapter.last_states] == [
        (2, 0, "STOPPED"),
        (4, 0, "STOPPED"),
    ]
    # Nothing injected: the dummy's bins are NaN, and NaN passes through.
    assert list(data) == [0]
    assert data[0].dtype == np.complex128
    assert data[0].shape == (3,)
    assert np.isnan(data[0]).all()


async def test_injected_acquisitions_come_back_converted(adapter: QbloxClusterAdapter) -> None:
    job = make_job()
    await adapter.arm(job)
    bins = [(30.0, -60.0), (3.0, 6.0), (0.0, 0.0)]
    injected = [DummyBinnedAcquisitionData(data=iq, thres=0, avg_cnt=1) for iq in bins]
    await adapter.run_on_driver(
        lambda c: c.set_dummy_binned_acquisition_data(4, 0, "acq0", injected)
    )
    await adapter.start()
    await adapter.wait_done(timeout_s=2.0)

    data = await adapter.retrieve(job)

    expected = np.array([complex(i, q) for i, q in bins]) / INTEGRATION_LENGTH
    np.testing.assert_allclose(data[0], expected, rtol=1e-6)


async def test_invalid_instruction_fails_arm_with_the_validator_message(
    adapter: QbloxClusterAdapter,
) -> None:
    with pytest.raises(QconductorError) as caught:
        await adapter.arm(make_job(qcm_program=BAD_PROGRAM))

    error = caught.value
    assert error.code == ErrorCode.INSTRUMENT_ERROR
    assert error.path == f"clusters[{NAME}].modules[2].sequencers[0].sequence.program"
    assert "slot 2 sequencer 0" in error.message
    diagnostics = validate_program(BAD_PROGRAM, max_instructions=16384)
    assert diagnostics
    assert all(d.message in error.message for d in diagnostics)
    assert isinstance(error.__cause__, RuntimeError)  # the driver's own error, chained
    # The adapter still works afterwards.
    assert np.isnan((await run_job(adapter, make_job()))[0]).all()


async def test_module_type_mismatch(adapter: QbloxClusterAdapter) -> None:
    with pytest.raises(QconductorError) as caught:
        await adapter.arm(make_job(slot2="QRM"))

    assert caught.value.code == ErrorCode.INSTRUMENT_MISMATCH
    assert caught.value.path == f"clusters[{NAME}].modules[2]"
    assert "holds a QCM" in caught.value.message


async def test_no_assembler_file_in_the_cwd(
    adapter: QbloxClusterAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await run_job(adapter, make_job())
    with pytest.raises(QconductorError):
        await adapter.arm(make_job(qcm_program=BAD_PROGRAM))
    assert [p async for p in anyio.Path(tmp_path).iterdir()] == []


async def test_only_changed_settings_are_sent(
    adapter: QbloxClusterAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[int, int | None, list[str]]] = []
    original = ClusterSession.set_parameters

    def recording(self: ClusterSession, slot: int, seq: int | None, *rest: Any) -> None:
        sent.append((slot, seq, [name for name, _ in rest[0]]))
        original(self, slot, seq, *rest)

    monkeypatch.setattr(ClusterSession, "set_parameters", recording)
    await adapter.arm(make_job())
    assert (2, None, ["out0_offset"]) in sent
    assert len(sent) == 5  # two modules, three sequencers

    sent.clear()
    await adapter.arm(make_job())
    assert sent == []

    await adapter.arm(make_job(nco_freq=60e6))
    assert sent == [(2, 0, ["nco_freq"])]
    assert await adapter.run_on_driver(lambda c: c.module2.sequencer0.nco_freq()) == 60e6

    sent.clear()  # a failed arm forgets what was set: everything is sent again
    with pytest.raises(QconductorError):
        await adapter.arm(make_job(qcm_program=BAD_PROGRAM))
    await adapter.arm(make_job())
    assert len([s for s in sent if s[0] == 4]) == 2


async def test_same_logical_name_coexists_and_reopens() -> None:
    first = QbloxClusterAdapter(NAME, dummy_modules={2: "QCM", 4: "QRM"})
    second = QbloxClusterAdapter(NAME, dummy_modules={2: "QCM", 4: "QRM"})
    await first.open()
    try:
        await second.open()
        assert first.qcodes_name != second.qcodes_name
        await run_job(first, make_job())
        await run_job(second, make_job())
        await second.close()
        third = QbloxClusterAdapter(NAME, dummy_modules={2: "QCM", 4: "QRM"})
        await third.open()
        await run_job(third, make_job())
        await third.close()
        await first.close()
        await first.open()  # reopening after close works too
        await run_job(first, make_job())
    finally:
        await first.close()
        await second.close()


async def test_hung_driver_call_times_out_while_the_loop_runs() -> None:
    instrument = QbloxClusterAdapter(NAME, dummy_modules={2: "QCM", 4: "QRM"}, timeout_s=0.3)
    await instrument.open()
    release = threading.Event()
    cluster = await instrument.run_on_driver(lambda c: c)
    ticker = Ticker()
    try:
        # Scoped: closing a qcodes instrument strips its instance attributes, patch included.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(cluster, "stop_sequencer", lambda *a, **k: release.wait(10))
            async with anyio.create_task_group() as tg:
                tg.start_soon(ticker.run)
                started = time.perf_counter()
                with pytest.raises(QconductorError) as caught:
                    await instrument.arm(make_job())
                elapsed = time.perf_counter() - started
                tg.cancel_scope.cancel()

            assert caught.value.code == ErrorCode.TIMEOUT
            assert "stop_sequencer" in caught.value.message
            assert "0.3 s" in caught.value.message
            assert 0.3 <= elapsed < 0.6
            assert ticker.ticks >= 30
            assert ticker.max_gap_s < 0.05
            health = await instrument.health()
            assert health["healthy"] is False
            assert health["busy_with"] == "stop_sequencer"
            # A second call queues behind the hung one and times out too, naming it.
            with pytest.raises(QconductorError, match="queued behind stop_sequencer"):
                await instrument.run_on_driver(lambda c: c.get_idn())

            release.set()  # the hung call returns; a call queued now runs right after it
            await instrument.run_on_driver(lambda c: None, timeout_s=5.0)
            assert (await instrument.health())["busy_with"] is None
            await instrument.stop()  # the driver answers again
            assert (await instrument.health())["healthy"] is True
    finally:
        release.set()
        await instrument.close()


async def test_event_loop_never_blocks_during_arm(adapter: QbloxClusterAdapter) -> None:
    ticker = Ticker()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker.run)
        await anyio.sleep(0.005)
        for nco_freq in (10e6, 20e6, 30e6):
            await adapter.arm(make_job(nco_freq=nco_freq))
        tg.cancel_scope.cancel()
    assert ticker.ticks > 0
    assert ticker.max_gap_s < 0.05


def statuses(text: str) -> Callable[..., list[Any]]:
    return lambda keys: [SequencerStatus.from_scpi_str(text) for _ in keys]


async def test_wait_done_times_out_with_the_states_seen(
    adapter: QbloxClusterAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    await adapter.arm(make_job())
    await adapter.start()
    cluster = await adapter.run_on_driver(lambda c: c)
    monkeypatch.setattr(cluster, "get_sequencer_statuses", statuses("OKAY;RUNNING;;;;"))
    started = time.perf_counter()
    with pytest.raises(QconductorError) as caught:
        await adapter.wait_done(timeout_s=0.2)
    assert time.perf_counter() - started < 0.5
    assert caught.value.code == ErrorCode.TIMEOUT
    assert "slot 4 sequencer 0: OKAY/RUNNING" in caught.value.message


async def test_wait_done_reports_error_flags(
    adapter: QbloxClusterAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    await adapter.arm(make_job())
    await adapter.start()
    cluster = await adapter.run_on_driver(lambda c: c)
    flagged = statuses("ERROR;STOPPED;;;SEQUENCE_PROCESSOR_Q1_ILLEGAL_INSTRUCTION,;")
    monkeypatch.setattr(cluster, "get_sequencer_statuses", flagged)
    with pytest.raises(QconductorError) as caught:
        await adapter.wait_done(timeout_s=1.0)
    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
    assert caught.value.path.startswith(f"clusters[{NAME}].modules[2].sequencers[0]")
    assert "SEQUENCE_PROCESSOR_Q1_ILLEGAL_INSTRUCTION" in caught.value.message
    # read again from the instrument for the failed job's record: errors and warnings, named
    # as the instrument prints them; a sequencer with info flags only is left out
    flagged = statuses("ERROR;STOPPED;ACQ_BINNING_DONE,;OUTPUT_OVERFLOW,;ACQ_BIN_INDEX_INVALID,;")
    monkeypatch.setattr(cluster, "get_sequencer_statuses", flagged)
    await adapter.stop()
    raised = ["ACQ BIN INDEX INVALID", "OUTPUT OVERFLOW"]  # the fake answers so for both
    assert await adapter.sequencer_flags() == {
        "module2.sequencer0": raised,
        "module4.sequencer0": raised,
    }
    monkeypatch.setattr(cluster, "get_sequencer_statuses", statuses("OKAY;STOPPED;FORCED_STOP,;;;"))
    assert await adapter.sequencer_flags() == {}


async def test_stop_and_close_are_idempotent() -> None:
    instrument = QbloxClusterAdapter(NAME, dummy_modules={2: "QCM"})
    await instrument.stop()  # never opened: nothing to stop
    await instrument.open()
    await instrument.open()
    await instrument.stop()
    await instrument.stop()
    await instrument.close()
    await instrument.close()
    await instrument.stop()
    assert (await instrument.health())["open"] is False
    with pytest.raises(QconductorError) as caught:
        await instrument.arm(make_job())
    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR


def test_unsupported_module_types_are_refused() -> None:
    with pytest.raises(QconductorError) as caught:
        QbloxClusterAdapter(NAME, dummy_modules={3: "QRC"})
    assert caught.value.code == ErrorCode.CONFIG_BAD_VALUE
    assert caught.value.path == f"clusters[{NAME}].modules[3]"
    with pytest.raises(ValueError, match="exactly one"):
        QbloxClusterAdapter(NAME)
