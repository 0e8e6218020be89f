"""The service in-process, on the simulated lab with pacing and injected faults: cancellation
at every stage, the pipeline's order (read N, then arm N+1), compiling ahead, and what the
publisher is handed."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.daemon.app import build_adapters
from qconductor.daemon.config import DaemonConfig
from qconductor.daemon.events import NullPublisher
from qconductor.daemon.jobs import Job
from qconductor.daemon.service import Service
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import load_hardware_config
from qconductor.protocol.messages import ArmArgs, CompileArgs, SubmitArgs
from qconductor.protocol.schedule import Idle, Schedule, SquarePulse, SSBIntegrationComplex
from tests.integration.daemon_process import DEFAULT_HARDWARE, DEFAULT_LAB
from tests.integration.test_cancel import schedule

pytestmark = pytest.mark.anyio


class RecordingPublisher(NullPublisher):
    def __init__(self) -> None:
        self.states: list[tuple[str, str]] = []
        self.acquisitions: list[tuple[str, str | int, np.ndarray[Any, Any]]] = []
        self.forgotten: list[str] = []

    def publish_state(self, job_id: str, state: str, meta: Mapping[str, Any] | None = None) -> int:
        self.states.append((job_id, state))
        return len(self.states)

    def publish_acquisitions(
        self,
        job_id: str,
        channel: str | int,
        arrays: Mapping[str, np.ndarray[Any, Any]],
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        self.acquisitions.append((job_id, channel, arrays["data"]))
        return len(self.acquisitions)

    def forget_job(self, job_id: str) -> None:
        self.forgotten.append(job_id)


@contextlib.asynccontextmanager
async def service(**sections: Any) -> AsyncIterator[Service]:
    faults = [
        {"stage": "arm", "action": "hang", "schedule_prefix": "hang-arm"},
        {"stage": "retrieve", "action": "hang", "schedule_prefix": "hang-retrieve"},
        {"stage": "arm", "action": "corrupt", "schedule_prefix": "corrupt"},
    ]
    cluster = {"name": "cluster0", "mode": "simulated", "lab": DEFAULT_LAB, "pacing": True}
    config = DaemonConfig.model_validate(
        {
            "hardware": {"config": DEFAULT_HARDWARE},
            "clusters": [{**cluster, "faults": faults}],
            "instrument": {"call_timeout_s": 30},
            **sections,
        }
    )
    hardware = load_hardware_config(config.hardware.config)
    async with anyio.create_task_group() as tg:
        yield Service(
            config, hardware, build_adapters(config, hardware), tg, publisher=RecordingPublisher()
        )
        tg.cancel_scope.cancel()


def named(name: str, seconds: float = 0.01) -> Schedule:
    return schedule(seconds).model_copy(update={"name": name})


async def until(job: Job, state: str) -> None:
    for _ in range(2000):  # at most 10 s
        if job.state == state:
            return
        await anyio.sleep(0.005)
    raise AssertionError(f"job {job.id} is {job.state}, not {state}")


async def enqueue(s: Service, sched: Schedule, **kw: Any) -> Job:
    reply = await s.submit(SubmitArgs(schedule=sched, wait=False, **kw), peer="p")
    return s.jobs.get(reply["job_id"])


@pytest.mark.parametrize(
    ("name", "stage"), [("hang-arm", "arming"), ("hang-retrieve", "retrieving")]
)
async def test_cancel_while_the_instrument_is_busy(name: str, stage: str) -> None:
    async with service() as s:
        job = await enqueue(s, named(name))
        await until(job, stage)
        assert s.owner["cluster0"] == job.id
        reply = await s.cancel(job.id)
        assert reply["state"] == "cancelled"
        assert reply["error"]["reason"] == "cancelled by a client"
        assert s.owner["cluster0"] is None
        after = await s.submit(SubmitArgs(schedule=schedule(0.001), timeout_s=10), peer="p")
        assert after["state"] == "done"


async def test_cancel_a_queued_job_and_the_explicit_verbs_leave_queued_jobs_alone() -> None:
    async with service() as s:
        blocker = await enqueue(s, schedule(0.3))
        queued = await enqueue(s, schedule(0.001))
        await until(queued, "compiled")  # compiled ahead while the blocker runs
        with pytest.raises(QconductorError) as info:
            await s.arm(queued.id)
        assert info.value.code == ErrorCode.JOB_STATE
        assert (await s.cancel(queued.id))["state"] == "cancelled"
        assert queued not in s.queue
        await until(blocker, "done")


async def test_reading_n_comes_before_arming_n_plus_1_and_depth_bounds_compiling() -> None:
    async with service(compile={"pipeline_depth": 2}) as s:
        jobs = [await enqueue(s, schedule(0.05)) for _ in range(5)]
        await until(jobs[2], "compiled")
        # one running, two compiled ahead, the rest wait uncompiled
        assert [j.state for j in jobs[3:]] == ["queued", "queued"]
        await until(jobs[-1], "done")
    for n, m in itertools.pairwise(jobs):
        assert n.timestamps["retrieving"] <= n.timestamps["done"] <= m.timestamps["arming"]
    report = s.metrics["cluster0"].report()
    assert report["dead_time_samples"] == 4
    assert report["dead_time_p99_ms"] < 50


async def test_every_transition_and_channel_is_published_and_evictions_forgotten() -> None:
    async with service(jobs={"keep_finished": 2}) as s:
        publisher = s.publisher
        assert isinstance(publisher, RecordingPublisher)
        done = [await s.submit(SubmitArgs(schedule=schedule(0.001)), peer="p") for _ in range(3)]
        compiled = await s.compile(CompileArgs(schedule=schedule(0.001)))
    first = done[0]["job_id"]
    assert [state for job_id, state in publisher.states if job_id == first] == [
        "queued",
        "compiling",
        "compiled",
        "arming",
        "armed",
        "running",
        "retrieving",
        "done",
    ]
    assert [(j, ch) for j, ch, _ in publisher.acquisitions] == [(d["job_id"], 0) for d in done]
    assert publisher.forgotten == [first, done[1]["job_id"]]  # keep_finished = 2
    assert tuple(state for job_id, state in publisher.states if job_id == compiled["job_id"]) == (
        "compiling",
        "compiled",
    )


async def test_an_armed_job_not_started_is_failed_and_released() -> None:
    async with service(jobs={"armed_timeout_s": 0.05}) as s:
        job_id = (await s.compile(CompileArgs(schedule=schedule(0.001))))["job_id"]
        await s.handle(ArmArgs(job_id=job_id))
        job = s.jobs.get(job_id)
        await until(job, "failed")
        assert job.failed_phase == "arm"
        assert job.error is not None
        assert job.error.code == ErrorCode.TIMEOUT
        assert s.owner["cluster0"] is None


async def test_cancel_between_dispatch_and_arming_frees_the_cluster() -> None:
    async with service() as s:
        s.owner["cluster0"] = "someone else"  # the job waits, compiled, in the queue
        job = await enqueue(s, schedule(0.001))
        await until(job, "compiled")
        s.owner["cluster0"] = None
        s._pump()  # dispatched: the cluster is the job's, its task not yet running
        assert s.owner["cluster0"] == job.id
        assert job not in s.queue
        assert (await s.cancel(job.id))["state"] == "cancelled"
        assert s.owner["cluster0"] is None
        after = await s.submit(SubmitArgs(schedule=schedule(0.001), timeout_s=10), peer="p")
        assert after["state"] == "done"
        assert job.failed_phase is None
        assert "arming" not in job.timestamps


async def test_a_sequencer_fault_fails_the_job_with_its_flags_as_data() -> None:
    async with service() as s:
        job = await enqueue(s, named("corrupt-upload"))
        await until(job, "failed")
        assert job.failed_phase == "run"
        assert job.error is not None
        assert job.error.code == ErrorCode.INSTRUMENT_ERROR
        assert job.error.message.startswith("ACQ INDEX INVALID: ")
        flags = {"cluster0": {"module2.sequencer0": ["ACQ INDEX INVALID"]}}
        assert job.flags == flags
        described = s.describe(job)["error"]
        assert described["flags"] == flags
        assert described["instrument"] == {"cluster0": {"healthy": True}}
        assert s.owner["cluster0"] is None
        after = await s.submit(SubmitArgs(schedule=schedule(0.001), timeout_s=10), peer="p")
        assert after["state"] == "done"
        assert "error" not in after


async def test_shutdown_stops_and_marks_every_job_not_ended() -> None:
    async with service() as s:
        publisher = s.publisher
        assert isinstance(publisher, RecordingPublisher)
        running = await enqueue(s, schedule(5.0))
        queued = await enqueue(s, schedule(0.001))
        await until(running, "running")
        idle = s.jobs.get((await s.compile(CompileArgs(schedule=schedule(0.001))))["job_id"])
        with anyio.fail_after(5):
            await s.shutdown()
        assert s.owner["cluster0"] is None
        with pytest.raises(QconductorError) as info:
            await s.submit(SubmitArgs(schedule=schedule(0.001), wait=False), peer="p")
        assert info.value.code == ErrorCode.JOB_STATE
    assert running.state == queued.state == idle.state == "cancelled"
    assert running.cancel_reason == "cancelled: the daemon stopped while it ran"
    before = "cancelled: the daemon stopped before it ran"
    assert queued.cancel_reason == idle.cancel_reason == before
    for job in (running, queued, idle):  # the change was handed to the publisher
        assert (job.id, "cancelled") in publisher.states


async def test_status_reads_a_busy_clusters_health_at_most_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Health is a driver call on the cluster's thread: while a job runs there, status
    requests must not slip one between the job's calls every time they are asked."""
    async with service() as s:
        adapter = s.adapters["cluster0"]
        reads = 0
        health = adapter.health

        async def counted() -> dict[str, Any]:
            nonlocal reads
            reads += 1
            return await health()

        monkeypatch.setattr(adapter, "health", counted)
        for _ in range(3):  # idle: read afresh each time
            assert (await s.status())["clusters"]["cluster0"]["healthy"] is True
        assert reads == 3
        job = await enqueue(s, schedule(0.3))
        await until(job, "running")
        reads = 0
        for _ in range(20):
            cluster = (await s.status())["clusters"]["cluster0"]
            assert (cluster["owner"], cluster["healthy"]) == (job.id, True)
        assert reads <= 1
        await until(job, "done")


def hardware_copy(tmp: Path) -> Path:
    path = tmp / "hardware.json"
    path.write_text(Path(DEFAULT_HARDWARE).read_text())
    return path


def add_readout_offset(path: Path) -> None:
    raw = json.loads(path.read_text())
    raw["hardware_options"]["mixer_corrections"] = {"q0:res-q0.ro": {"dc_offset_i": 0.01}}
    path.write_text(json.dumps(raw))


async def test_a_reload_applies_between_jobs_also_to_those_compiled_ahead(tmp_path: Path) -> None:
    path = hardware_copy(tmp_path)
    async with service(hardware={"config": path}) as s:
        publisher = s.publisher
        assert isinstance(publisher, RecordingPublisher)
        running = await enqueue(s, schedule(0.3))
        ahead = await enqueue(s, schedule(0.001))
        await until(ahead, "compiled")
        assert running.compiled is not None
        assert ahead.compiled is not None
        before = (running.compiled.content_hash, ahead.compiled.content_hash)
        add_readout_offset(path)
        await s.reload_hardware()
        assert (await s.status())["hardware_config"]["last_reload_error"] is None
        await until(ahead, "done")
    new = compile_schedule(schedule(0.001), load_hardware_config(path))
    assert running.compiled.content_hash == before[0]  # on its cluster already: as compiled
    assert ahead.compiled.content_hash == new.content_hash != before[1]
    states = [state for job_id, state in publisher.states if job_id == ahead.id]
    assert states[:5] == ["queued", "compiling", "compiled", "compiling", "compiled"]


def two_clusters(tmp: Path) -> Path:
    """cluster0 reads q0, cluster1 reads q1: the default config's modules, twice."""
    hw = json.loads(Path(DEFAULT_HARDWARE).read_text())
    modules = hw["hardware_description"]["cluster0"]["modules"]
    hw["hardware_description"]["cluster1"] = {
        "instrument_type": "Cluster",
        "ref": "internal",
        "modules": modules,
    }
    hw["connectivity"]["graph"] = [
        ["cluster0.module2.complex_output_0", "q0:res"],
        ["cluster0.module2.complex_input_0", "q0:res"],
        ["cluster1.module2.complex_output_0", "q1:res"],
        ["cluster1.module2.complex_input_0", "q1:res"],
    ]
    path = tmp / "two.json"
    path.write_text(json.dumps(hw))
    return path


def readout(qubit: int, seconds: float) -> Schedule:
    s = Schedule(name="ro", repetitions=1, clocks={f"q{qubit}.ro": [150e6, 250e6][qubit]})
    s.add(Idle(duration=int(seconds * 1e9)))
    port, clock = f"q{qubit}:res", f"q{qubit}.ro"
    ro = s.add(SquarePulse(port=port, clock=clock, amplitude=0.2, duration=1000))
    s.add(SSBIntegrationComplex(port=port, clock=clock, duration=900), ref=ro, delay=100)
    return s


async def test_jobs_on_different_clusters_run_at_once(tmp_path: Path) -> None:
    cluster = {"mode": "simulated", "lab": DEFAULT_LAB, "pacing": True}
    config = DaemonConfig.model_validate(
        {
            "hardware": {"config": two_clusters(tmp_path)},
            "clusters": [{"name": "cluster0", **cluster}, {"name": "cluster1", **cluster}],
            "compile": {"pipeline_depth": 3},
        }
    )
    hardware = load_hardware_config(config.hardware.config)
    async with anyio.create_task_group() as tg:
        s = Service(config, hardware, build_adapters(config, hardware), tg)
        first = await enqueue(s, readout(0, 0.3))
        behind = await enqueue(s, readout(0, 0.01))  # waits for cluster0
        other = await enqueue(s, readout(1, 0.3))  # cluster1 is free: runs beside `first`
        await until(behind, "done")
        await until(other, "done")
        tg.cancel_scope.cancel()
    assert other.timestamps["running"] < first.timestamps["retrieving"]
    assert first.timestamps["running"] < other.timestamps["retrieving"]
    assert behind.timestamps["running"] >= first.timestamps["retrieving"]


async def test_a_backlog_on_one_cluster_does_not_keep_another_idle(tmp_path: Path) -> None:
    """pipeline_depth is per cluster: jobs compiled and waiting for cluster0 leave room to
    compile (and run) the job for cluster1 queued behind them, up to depth x clusters
    compiled ahead in all."""
    cluster = {"mode": "simulated", "lab": DEFAULT_LAB, "pacing": True}
    config = DaemonConfig.model_validate(
        {
            "hardware": {"config": two_clusters(tmp_path)},
            "clusters": [{"name": "cluster0", **cluster}, {"name": "cluster1", **cluster}],
            "compile": {"pipeline_depth": 2},
        }
    )
    hardware = load_hardware_config(config.hardware.config)
    async with anyio.create_task_group() as tg:
        s = Service(config, hardware, build_adapters(config, hardware), tg)
        first = await enqueue(s, readout(0, 0.5))
        await until(first, "running")
        backlog = [await enqueue(s, readout(0, 0.01 * (k + 1))) for k in range(3)]
        other = await enqueue(s, readout(1, 0.01))
        later = [await enqueue(s, readout(0, 0.001 * (k + 1))) for k in range(3)]
        await until(other, "done")
        assert first.state == "running"  # cluster1's job ran while cluster0 was busy
        assert [j.state for j in backlog] == ["compiled"] * 3
        ahead = [j for j in [*backlog, *later] if j.state in ("compiling", "compiled")]
        assert len(ahead) <= 4  # depth x clusters
        await until(later[-1], "done")
        tg.cancel_scope.cancel()
    assert other.timestamps["running"] < first.timestamps["retrieving"]
