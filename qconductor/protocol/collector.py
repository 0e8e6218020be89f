"""Pausing Python's cyclic garbage collector around bursts of allocation.

Decoding a large schedule and compiling it allocate hundreds of thousands of objects and no
reference cycles; the collector's passes over the growing heap then cost most of the time
(63-73% of validating a 10^5-operation schedule, 40% of compiling it; bench/README.md).
Nesting and threads are safe: only the outermost pause re-enables the collector, and only if
it was enabled before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
