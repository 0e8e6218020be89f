"""The compiler front: the cache by content hash, the thread and the process pool (same result,
errors crossing the process boundary whole), a worker that dies, and the workers ended."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import AsyncIterator

import anyio
import pytest

import qconductor.adapters.qblox.compiler.compile as compile_module
import qconductor.daemon.pool as pool_module
from qconductor.daemon.pool import Compiler
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import Schedule, SquarePulse
from tests.integration.daemon_process import DEFAULT_HARDWARE

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(DEFAULT_HARDWARE)


def pulse(amplitude: float = 0.3, port: str = "q0:mw") -> Schedule:
    s = Schedule(name="p", repetitions=4, clocks={"q0.01": 80e6})
    s.add(SquarePulse(port=port, clock="q0.01", amplitude=amplitude, duration=100))
    return s


@pytest.fixture
async def pooled() -> AsyncIterator[Compiler]:
    compiler = Compiler(workers=1, pool_min_operations=0)  # every compile in the pool
    yield compiler
    await compiler.aclose()


async def test_a_resubmitted_schedule_is_not_compiled_again(hardware: HardwareConfig) -> None:
    compiler = Compiler(workers=0, cache_size=2)
    first = await compiler.compile(pulse(0.3), hardware)
    again = await compiler.compile(pulse(0.3), hardware)
    other = await compiler.compile(pulse(0.4), hardware)
    assert again is first
    assert other.content_hash != first.content_hash
    stats = compiler.stats()
    assert (stats["hits"], stats["misses"], stats["thread"], stats["pool"]) == (1, 2, 2, 0)
    await compiler.compile(pulse(0.5), hardware)  # evicts the least recently used (0.3)
    await compiler.compile(pulse(0.3), hardware)
    assert compiler.stats()["thread"] == 4


async def test_a_thread_compile_digests_the_schedule_once(
    hardware: HardwareConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache key is the job's content hash: the compile takes it, not computes it again
    (a tenth of a compile's time)."""
    calls = []
    real = compile_module.content_hash

    def counted(schedule: Schedule, hw: HardwareConfig) -> str:
        calls.append(schedule.name)
        return real(schedule, hw)

    monkeypatch.setattr(pool_module, "content_hash", counted)
    monkeypatch.setattr(compile_module, "content_hash", counted)
    job = await Compiler(workers=0).compile(pulse(), hardware)
    assert calls == ["p"]
    assert job.content_hash == real(pulse(), hardware)


async def test_the_pool_compiles_what_the_thread_compiles(
    pooled: Compiler, hardware: HardwareConfig
) -> None:
    in_pool = await pooled.compile(pulse(), hardware)
    here = await Compiler(workers=0).compile(pulse(), hardware)
    assert in_pool == here
    assert pooled.stats()["pool"] == 1
    assert await pooled.compile(pulse(), hardware) is in_pool  # cached, no second trip


async def test_a_compile_error_crosses_the_process_boundary_whole(
    pooled: Compiler, hardware: HardwareConfig
) -> None:
    with pytest.raises(QconductorError) as info:
        await pooled.compile(pulse(port="q7:mw"), hardware)
    assert info.value.code == ErrorCode.PORT_NOT_CONNECTED
    assert info.value.path == "operations[0].op.port"
    assert info.value.details  # the diagnostics came along


async def test_a_worker_that_dies_fails_only_its_compile(
    pooled: Compiler, hardware: HardwareConfig
) -> None:
    await pooled.compile(pulse(0.1), hardware)
    with pytest.raises(QconductorError) as info:
        await pooled.run_in_pool(os._exit, 3)
    assert info.value.code == ErrorCode.INTERNAL
    assert "died" in info.value.message
    assert (await pooled.compile(pulse(0.2), hardware)).repetitions == 4  # a new pool
    assert pooled.stats()["pool_restarts"] == 1


async def test_closing_ends_the_workers(hardware: HardwareConfig) -> None:
    compiler = Compiler(workers=2, pool_min_operations=0)
    await compiler.compile(pulse(), hardware)
    executor = compiler._executor
    assert executor is not None
    processes = list(executor._processes.values())
    assert processes
    assert all(p.is_alive() for p in processes)
    await compiler.aclose()
    assert not any(p.is_alive() for p in processes)
    assert compiler.stats()["pool_running"] is False


async def test_a_thread_compile_error_leaves_the_compiler_frames_behind(
    hardware: HardwareConfig,
) -> None:
    """What the frames hold is freed in the worker thread, not where the error is dropped."""
    with pytest.raises(QconductorError) as info:
        await Compiler(workers=0).compile(pulse(port="q7:mw"), hardware)
    assert info.value.code == ErrorCode.PORT_NOT_CONNECTED
    assert info.value.__context__ is None
    files = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(info.value.__traceback__)]
    assert not any("compiler" in f for f in files), files


async def test_starting_the_pool_does_not_stall_the_event_loop(
    pooled: Compiler, hardware: HardwareConfig
) -> None:
    """The first compile in the pool starts the forkserver and the workers (about 300 ms):
    in a thread, not on the event loop."""
    worst = 0.0

    async def tick() -> None:
        nonlocal worst
        while True:
            asked = time.monotonic()
            await anyio.sleep(0.005)
            worst = max(worst, time.monotonic() - asked - 0.005)

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        await anyio.sleep(0.02)
        await pooled.compile(pulse(), hardware)
        tg.cancel_scope.cancel()
    assert pooled.stats()["pool"] == 1
    assert worst < 0.05, f"the loop stalled {worst * 1e3:.0f} ms"
