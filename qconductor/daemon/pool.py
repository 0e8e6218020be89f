"""Compiling off the event loop: a cache by content hash, a thread, and a process pool.

The compiler is pure, so a compiled job depends only on the schedule, the hardware config and
the compiler version: :func:`content_hash` of the three keys an LRU cache of compiled jobs
(frozen models, shared safely), so a resubmitted schedule is not compiled again.

Where a miss compiles is a measured rule (bench/README.md, "Compile: thread or process pool";
``python -m bench.compile_pool``). Handing a schedule to another process costs more than
compiling it: the worker must validate the schedule again (pydantic), which alone takes about
as long as the compile, plus pickling and pipes. On the 2-core reference machine the thread
was 2-3x faster at every size from 10^2 to 10^5 operations and kept the event loop as
responsive (at most 25 ms late at 10^5), so schedules below ``pool_min_operations`` (default
100 000) compile in a thread, at most ``workers`` at a time (more threads would only fight the
event loop for the GIL). The pool is for machines with cores to spare and clients sending
very large schedules at once: lower the threshold there. ``workers = 0`` means no pool.

A compile error leaves the thread without the compiler's frames, so the objects they hold
(millions, for a large schedule) are freed in the thread, not on the event loop: dropping
them there stalled the loop for 290 ms at 10^5 operations.

The pool starts on first use, from a ``forkserver`` (never ``fork``: the daemon has threads and
a ZeroMQ context), with the compiler preloaded. A worker that dies fails only the job it was
compiling (``INTERNAL``), and the pool is replaced for the next one. :meth:`Compiler.aclose`
ends the workers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import anyio
import msgpack
import structlog
from pydantic import ValidationError

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.compile import content_hash
from qconductor.protocol.collector import collector_paused
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig
from qconductor.protocol.schedule import Schedule

log = structlog.get_logger("qconductor.compile")
T = TypeVar("T")
SHUTDOWN_GRACE_S = 2.0


class Compiler:
    def __init__(
        self, *, workers: int = 2, pool_min_operations: int = 100_000, cache_size: int = 256
    ) -> None:
        self.workers = workers
        self.pool_min_operations = pool_min_operations
        self._cache: OrderedDict[str, CompiledJob] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the cache is used from compile threads
        self._pool_lock = threading.Lock()  # the pool is started from a thread
        self._executor: ProcessPoolExecutor | None = None
        # as many compile threads as workers: more would only fight the event loop for the GIL
        self._threads = anyio.CapacityLimiter(max(1, workers))
        self._counts = dict.fromkeys(("hits", "misses", "thread", "pool", "pool_restarts"), 0)

    async def compile(self, schedule: Schedule, hardware: HardwareConfig) -> CompiledJob:
        """The compiled job, from the cache or compiled now; the compiler's errors as raised."""
        if self.workers > 0 and len(schedule.operations) >= self.pool_min_operations:
            key = await anyio.to_thread.run_sync(content_hash, schedule, hardware)
            cached = self._lookup(key)
            if cached is not None:
                return cached
            packed = await anyio.to_thread.run_sync(_pack, schedule)
            job = await self.run_in_pool(_compile_packed, packed, hardware, key)
            self._store(job, "pool")
            return job
        return await anyio.to_thread.run_sync(
            self._compile_here, schedule, hardware, limiter=self._threads
        )

    def _compile_here(self, schedule: Schedule, hardware: HardwareConfig) -> CompiledJob:
        """In a worker thread: hash, look up, compile on a miss."""
        key = content_hash(schedule, hardware)
        cached = self._lookup(key)
        if cached is not None:
            return cached
        error: QconductorError | None = None
        try:
            job = compile_schedule(schedule, hardware, digest=key)
        except QconductorError as exc:
            # Raised again without the compiler's frames: what they hold (millions of objects
            # for a large schedule) is freed here, not on the event loop that gets the error.
            error = QconductorError(
                exc.code, exc.message, exc.path, hint=exc.hint, details=exc.details
            )
        if error is not None:
            raise error
        self._store(job, "thread")
        return job

    async def run_in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process. A worker that dies is ``INTERNAL`` for this call
        only: the pool is replaced for the next. Submitting happens in a thread: the first
        submit starts the forkserver and the workers, which took 300 ms on the event loop."""
        executor: ProcessPoolExecutor | None = None
        try:
            executor, future = await anyio.to_thread.run_sync(self._submit, fn, args)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            self._counts["pool_restarts"] += 1
            if executor is not None and self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            log.error("a compile worker died; the pool is restarted", error=str(exc))
            raise QconductorError(
                ErrorCode.INTERNAL,
                "the compile worker process died while compiling this schedule (the pool was "
                "restarted); please report it with the daemon log",
            ) from exc

    def _submit(
        self, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[ProcessPoolExecutor, Future[T]]:
        """In a worker thread: the pool (started if need be) and the submitted call."""
        with self._pool_lock:
            executor = self._pool()
        return executor, executor.submit(fn, *args)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context(
                "forkserver" if "forkserver" in methods else "spawn"
            )
            if isinstance(context, multiprocessing.context.ForkServerContext):
                context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
            log.info("compile pool started", workers=self.workers)
        return self._executor

    def _lookup(self, key: str) -> CompiledJob | None:
        with self._lock:
            job = self._cache.get(key)
            if job is None:
                self._counts["misses"] += 1
                return None
            self._cache.move_to_end(key)
            self._counts["hits"] += 1
            return job

    def _store(self, job: CompiledJob, route: str) -> None:
        with self._lock:
            self._counts[route] += 1
            self._cache[job.content_hash] = job
            self._cache.move_to_end(job.content_hash)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def stats(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "pool_running": self._executor is not None,
            "pool_min_operations": self.pool_min_operations,
            "cached": len(self._cache),
            **self._counts,
        }

    async def aclose(self) -> None:
        """End the worker processes (a compile still running is abandoned)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await anyio.to_thread.run_sync(_shutdown, executor)


def _shutdown(executor: ProcessPoolExecutor) -> None:
    # ``_processes`` is private but stable since 3.8; the public shutdown cannot end a worker
    # in the middle of a long compile, and the daemon must not wait for one.
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(SHUTDOWN_GRACE_S)
        if process.is_alive():
            process.terminate()
            process.join(SHUTDOWN_GRACE_S)


def _pack(schedule: Schedule) -> bytes:
    with collector_paused():
        packed: bytes = msgpack.packb(schedule.model_dump(mode="json"), use_bin_type=True)
        return packed


def _compile_packed(packed: bytes, hardware: HardwareConfig, key: str) -> CompiledJob:
    """In a worker process: the schedule again from its msgpack form, then compiled (under
    the daemon's cache key: its digest is not computed twice)."""
    with collector_paused():
        try:
            schedule = Schedule.model_validate(msgpack.unpackb(packed, raw=False))
        except ValidationError as exc:  # the daemon validated it: a defect if it fails here
            raise QconductorError(
                ErrorCode.INTERNAL, f"the schedule did not survive the trip to a worker: {exc}"
            ) from None
        return compile_schedule(schedule, hardware, digest=key)
