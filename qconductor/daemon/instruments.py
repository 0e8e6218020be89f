"""The instruments a daemon owns, driven through their adapters with a deadline on every call.

Every adapter call a job makes (setting its local oscillators, arm, start, retrieve, stop) must
return within ``call_timeout_s``; waiting for the sequencers to stop within the job's duration
plus ``run_timeout_s``. A call that does not is ``INSTRUMENT_TIMEOUT``, and so is an adapter's
own ``TIMEOUT`` (a driver call past its deadline): to a client both mean the instrument did not
answer in time. Stopping is shielded from cancellation and never raises: it is what leaves the
hardware safe after a failure, a cancellation or a shutdown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, TypeVar

import anyio
import structlog

from qconductor.adapters.base import AcquisitionData, InstrumentAdapter
from qconductor.adapters.lo import LocalOscillatorAdapter
from qconductor.daemon.oscillators import apply_lo_settings
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError

log = structlog.get_logger("qconductor.daemon")
T = TypeVar("T")
FLAGS_TIMEOUT_S = 2.0
# What ``health`` reports that describes the instrument's state at a failure.
_FLAG_KEYS = ("healthy", "busy_with", "system_status", "system_flags", "slot_flags", "error")


class Instruments:
    def __init__(
        self,
        clusters: dict[str, InstrumentAdapter],
        local_oscillators: dict[str, LocalOscillatorAdapter],
        *,
        call_timeout_s: float,
        run_timeout_s: float,
    ) -> None:
        self.clusters = clusters
        self.local_oscillators = local_oscillators
        self.call_timeout_s = call_timeout_s
        self.run_timeout_s = run_timeout_s

    def for_job(self, compiled: CompiledJob) -> dict[str, InstrumentAdapter]:
        out: dict[str, InstrumentAdapter] = {}
        for cluster in compiled.clusters:
            adapter = self.clusters.get(cluster.name)
            if adapter is None:
                raise QconductorError(
                    ErrorCode.UNKNOWN_CLUSTER,
                    f"the job uses cluster {cluster.name!r}, which this daemon does not own "
                    f"(it owns {', '.join(sorted(self.clusters)) or 'none'})",
                    "args.hardware_config",
                )
            out[cluster.name] = adapter
        return out

    async def arm(self, compiled: CompiledJob, adapters: dict[str, InstrumentAdapter]) -> None:
        await self._call(
            "",
            "set the local oscillators",
            partial(apply_lo_settings, self.local_oscillators, compiled),
        )
        for name, adapter in adapters.items():
            await self._call(name, "arm", partial(adapter.arm, compiled))

    async def start(self, adapters: dict[str, InstrumentAdapter]) -> None:
        for name, adapter in adapters.items():
            await self._call(name, "start", adapter.start)

    async def wait_done(
        self, compiled: CompiledJob, adapters: dict[str, InstrumentAdapter]
    ) -> None:
        limit = self.run_timeout_s + compiled.duration_ns * 1e-9
        for name, adapter in adapters.items():
            await self._call(
                name,
                "wait for the sequencers to stop",
                partial(adapter.wait_done, limit),
                timeout_s=limit + self.call_timeout_s,
            )

    async def retrieve(
        self, compiled: CompiledJob, adapters: dict[str, InstrumentAdapter]
    ) -> AcquisitionData:
        data: AcquisitionData = {}
        for name, adapter in adapters.items():
            data.update(await self._call(name, "retrieve", partial(adapter.retrieve, compiled)))
        return data

    async def stop(self, names: Iterable[str]) -> None:
        """Stop the sequencers of these clusters: shielded, with a deadline, never raising."""
        with anyio.CancelScope(shield=True):
            for name in names:
                adapter = self.clusters.get(name)
                if adapter is None:
                    continue
                try:
                    await self._call(name, "stop", adapter.stop)
                except Exception:
                    log.exception("stopping the sequencers failed", cluster=name)
                else:
                    log.info("sequencers stopped", cluster=name)

    async def status_flags(self, names: Iterable[str]) -> dict[str, Any]:
        """What each cluster reports about itself after a failure: health, status flags."""
        out: dict[str, Any] = {}
        with anyio.CancelScope(shield=True):
            for name in names:
                adapter = self.clusters.get(name)
                if adapter is None:
                    continue
                try:
                    with anyio.fail_after(FLAGS_TIMEOUT_S):
                        health = await adapter.health()
                except Exception as exc:
                    out[name] = {"error": f"health not read: {type(exc).__name__}: {exc}"}
                    continue
                out[name] = {k: health[k] for k in _FLAG_KEYS if k in health}
        return out

    async def _call(
        self,
        name: str,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        timeout_s: float | None = None,
    ) -> T:
        limit = self.call_timeout_s if timeout_s is None else timeout_s
        try:
            with anyio.fail_after(limit):
                return await call()
        except TimeoutError:
            raise QconductorError(
                ErrorCode.INSTRUMENT_TIMEOUT,
                f"{f'cluster {name}: ' if name else ''}{what} did not return within {limit:g} s",
                f"clusters[{name}]" if name else "",
                hint="the hardware was stopped; check the instrument, or raise "
                "[instrument] call_timeout_s",
            ) from None
        except QconductorError as exc:
            if exc.code != ErrorCode.TIMEOUT:
                raise
            raise QconductorError(
                ErrorCode.INSTRUMENT_TIMEOUT,
                exc.message,
                exc.path,
                hint=exc.hint,
                details=exc.details,
            ) from exc
