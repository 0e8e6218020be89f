"""The ``status`` verb and the periodic ``status`` topic: the daemon described in one map.

Version and uptime, the event loop's lag, jobs per state, the queue (depth, jobs compiling and
compiled ahead, the policy), per cluster the job on it, its health (what its adapter reports)
and its dead time and duty cycle, the local oscillators, the compile cache and pool, the
subscribers and the data socket's counters, and the hardware config (its path, when it was
loaded, the last reload refused).

A cluster's health is a driver call on the cluster's own thread (identity, system status),
and ``status`` is asked often (every client, ``qconductor watch``, the periodic topic). While
a job is on the cluster, :class:`HealthCache` reads it at most once per ``HEALTH_MAX_AGE_S``,
so status requests do not slip driver calls between the job's own (its ``wait_done`` polls);
an idle cluster is read afresh each time. A job's failure report reads the health afresh too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from qconductor import __version__
from qconductor.daemon.jobs import JobState
from qconductor.protocol.messages import PROTOCOL_VERSION, error_body

if TYPE_CHECKING:
    from qconductor.daemon.service import Service

HEALTH_MAX_AGE_S = 1.0


class HealthCache:
    """Each instrument's health as last read; :meth:`get` reads again when asked for a fresh
    one or when it is older than ``max_age_s``. No lock: two askers at the moment it goes
    stale both read, which is rare and harmless, and the status verb stays a few µs."""

    def __init__(self, max_age_s: float = HEALTH_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._read: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(
        self, key: str, read: Callable[[], Awaitable[dict[str, Any]]], *, fresh: bool = False
    ) -> dict[str, Any]:
        hit = None if fresh else self._read.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.max_age_s:
            return hit[1]
        value = await read()
        self._read[key] = (time.monotonic(), value)
        return value


async def daemon_status(service: Service) -> dict[str, Any]:
    now = time.time()
    health = service.health
    clusters: dict[str, Any] = {}
    for name, adapter in service.adapters.items():
        owner = service.owner[name]
        current = service.jobs.get(owner) if owner is not None else None
        clusters[name] = {
            "owner": owner,
            "job_state": str(current.state) if current else None,
            **await health.get(name, adapter.health, fresh=owner is None),
            **service.metrics[name].report(now),
        }
    oscillators = {name: await lo.health() for name, lo in service.local_oscillators.items()}
    queued = list(service.queue)
    reload_error = service.reload_error
    out: dict[str, Any] = {
        "version": __version__,
        "protocol": PROTOCOL_VERSION,
        "uptime_s": time.monotonic() - service.started,
        "event_loop_lag": service.loop_lag.report(),
        "jobs": service.jobs.counts(),
        "queue": {
            "depth": len(queued),
            "compiling": sum(j.state == JobState.COMPILING for j in queued),
            "compiled": sum(j.state == JobState.COMPILED for j in queued),
            "strict_priority": service.queue.strict_priority,
            "pipeline_depth": service.config.compile.pipeline_depth,
        },
        "clusters": clusters,
        "local_oscillators": oscillators,
        "compile": service.compiler.stats(),
        "subscribers": service.publisher.subscriber_count,
        "hardware_config": {
            "path": str(service.config.hardware.config),
            "loaded_at": service.hardware_loaded_at,
            "last_reload_error": None if reload_error is None else error_body(reload_error),
        },
    }
    stats = getattr(service.publisher, "stats", None)
    if callable(stats):
        out["streams"] = stats()
    return out
