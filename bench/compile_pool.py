"""Compile in a thread or in the process pool: wall time and event-loop lag, by schedule size.

    .venv/bin/python -m bench.compile_pool [--quick]

For each schedule the daemon's :class:`~qconductor.daemon.pool.Compiler` compiles it once
through a thread and once through a one-worker pool (``pool_min_operations = 0``), with no
cache; a task on the same event loop measures how late it wakes
from 1 ms sleeps meanwhile (what every other client of the daemon would feel). Then eight
different schedules of one size at once, through threads (two at a time, as the daemon with
``workers = 2`` runs them) and through a two-worker pool. The
median of ``--repeat`` runs is printed. This is the measurement behind the pool's routing rule
(``[compile] pool_min_operations``, bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import anyio

from bench.machine import describe as machine
from bench.schedules import HARDWARE_CONFIG, family
from qconductor.daemon.pool import Compiler
from qconductor.protocol.errors import QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import Schedule

CASES = (("sweep", 100), ("sweep", 1_000), ("t1", 10_000), ("t1", 100_000))


async def timed(run: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(wall seconds, largest loop lag seconds) of ``run``."""
    lags: list[float] = [0.0]
    done = anyio.Event()

    async def monitor() -> None:
        while not done.is_set():
            asked = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - asked - 0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor)
        await anyio.sleep(0.005)
        started = time.perf_counter()
        await run()
        wall = time.perf_counter() - started
        done.set()
    return wall, max(lags)


async def compile_once(compiler: Compiler, schedule: Schedule, hw: HardwareConfig) -> None:
    # 10^5 unrolled operations exceed a sequencer's memory: refused, but compiled all the same
    with contextlib.suppress(QconductorError):
        await compiler.compile(schedule, hw)


async def compile_all(compiler: Compiler, batch: list[Schedule], hw: HardwareConfig) -> None:
    async with anyio.create_task_group() as tg:
        for schedule in batch:
            tg.start_soon(compile_once, compiler, schedule, hw)


async def main(repeat: int, cases: tuple[tuple[str, int], ...]) -> None:
    hw = load_hardware_config(HARDWARE_CONFIG)
    # the daemon's thread route: two compiles at a time, as with the default workers = 2
    thread = Compiler(workers=2, pool_min_operations=sys.maxsize, cache_size=0)
    pool = Compiler(workers=1, pool_min_operations=0, cache_size=0)
    pair = Compiler(workers=2, pool_min_operations=0, cache_size=0)
    try:
        await compile_once(pool, family("sweep").build(8), hw)  # start the worker
        await compile_once(pair, family("sweep").build(8), hw)
        print(f"{'schedule':>14} | {'thread ms':>9} {'lag ms':>7} | {'pool ms':>9} {'lag ms':>7}")
        for name, size in cases:
            schedule = family(name).build(size)
            row = []
            for compiler in (thread, pool):
                once = functools.partial(compile_once, compiler, schedule, hw)
                runs = [await timed(once) for _ in range(repeat)]
                row += [
                    statistics.median(r[0] for r in runs),
                    statistics.median(r[1] for r in runs),
                ]
            cells = " | ".join(f"{row[i] * 1e3:9.2f} {row[i + 1] * 1e3:7.2f}" for i in (0, 2))
            print(f"{name + ' ' + str(size):>14} | {cells}")
        for name, size in cases[:-1]:
            batch = [family(name).build(size) for _ in range(8)]
            for label, compiler in (("threads", thread), ("pool of 2", pair)):
                all_at_once = functools.partial(compile_all, compiler, batch, hw)
                wall, lag = await timed(all_at_once)
                print(
                    f"8 x {name} {size}, {label}: {wall * 1e3:.1f} ms, loop lag {lag * 1e3:.1f} ms"
                )
    finally:
        await pool.aclose()
        await pair.aclose()
    print(machine())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="sizes up to 10^4, 3 runs")
    args = parser.parse_args()
    quick = args.quick
    anyio.run(main, 3 if quick else args.repeat, CASES[:-1] if quick else CASES)
