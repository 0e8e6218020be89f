"""Where one compile's wall time goes, measured without a profiler.

- :func:`gc_share`: how much of a compile the cyclic garbage collector takes (``gc.callbacks``),
  and the compile time with the collector off.
- :func:`pass_times`: the inclusive wall time of every function the compiler's entry module
  calls by global name (the passes: allocation, event building, program emission, hashing …),
  found by inspecting that module, so it follows the compiler's refactorings by itself.

cProfile charges its per-call overhead to Python code and none to C code (pydantic's
serialiser, for one), so for shares of a pass these are the figures to trust; cProfile says
which functions inside a pass to look at.
"""

from __future__ import annotations

import functools
import gc
import inspect
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from qconductor.adapters.qblox.compiler import compile_schedule


@dataclass
class GcPauses:
    """Time the cyclic garbage collector spends during a call, by generation."""

    seconds: float = 0.0
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def gc_share(run: Callable[[], object], repeat: int = 3) -> tuple[float, GcPauses, float]:
    """(best time with the collector on, its pauses in that run, best time with it off)."""
    best_on, best_pauses = float("inf"), GcPauses()
    for _ in range(repeat):
        pauses = GcPauses()
        gc.collect()
        gc.callbacks.append(pauses)
        try:
            t0 = time.perf_counter()
            run()
            elapsed = time.perf_counter() - t0
        finally:
            gc.callbacks.remove(pauses)
        if elapsed < best_on:
            best_on, best_pauses = elapsed, pauses
    best_off = float("inf")
    for _ in range(repeat):
        with collector_off():
            t0 = time.perf_counter()
            run()
            best_off = min(best_off, time.perf_counter() - t0)
    return best_on, best_pauses, best_off


@dataclass(frozen=True)
class PassTime:
    name: str  # module.function
    seconds: float  # inclusive: a pass that calls another one includes it
    calls: int


def pass_times(run: Callable[[], object], repeat: int = 3) -> tuple[float, list[PassTime]]:
    """(best compile time, the passes of that run), collector off, slowest pass first."""
    module = sys.modules[compile_schedule.__module__]
    package = module.__name__.rpartition(".")[0]
    targets: dict[str, Any] = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj)
        and obj.__module__.startswith(package)
        and obj is not compile_schedule
    }
    best_total, best_passes = float("inf"), list[PassTime]()
    for _ in range(repeat):
        spent: dict[str, list[float]] = {name: [0.0, 0.0] for name in targets}
        try:
            for name, fn in targets.items():
                setattr(module, name, _timed(fn, spent[name]))
            with collector_off():
                t0 = time.perf_counter()
                run()
                total = time.perf_counter() - t0
        finally:
            for name, fn in targets.items():
                setattr(module, name, fn)
        if total < best_total:
            best_total = total
            best_passes = sorted(
                (
                    PassTime(f"{targets[n].__module__.rpartition('.')[2]}.{n}", s, int(c))
                    for n, (s, c) in spent.items()
                    if c
                ),
                key=lambda p: p.seconds,
                reverse=True,
            )
    return best_total, best_passes


def _timed(fn: Callable[..., Any], acc: list[float]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[0] += time.perf_counter() - t0
            acc[1] += 1

    return wrapper
