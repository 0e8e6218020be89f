"""The instruments a daemon owns, driven through their adapters with a deadline on every call.

Every adapter call a job makes (setting its local oscillators, arm, start, retrieve, stop) must
return within ``call_timeout_s``; waiting for the sequencers to stop within the job's duration
plus ``run_timeout_s``. A call that does not is ``INSTRUMENT_TIMEOUT``, and so is an adapter's
own ``TIMEOUT`` (a driver call past its deadline): to a client both mean the instrument did not
answer in time. Stopping is shielded from cancellation and never raises: it is what leaves the
hardware safe after a failure, a cancellation or a shutdown. The clusters of a job are stopped
at once, each within ``call_timeout_s``, so stopping a job takes at most ``call_timeout_s``
however many clusters it uses. After a failure :meth:`Instruments.failure_report` reads what
the clusters say about themselves: health and system flags, and each sequencer's flags.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, TypeVar

import anyio
import structlog

from qconductor.adapters.base import AcquisitionData, InstrumentAdapter, SequencerFlags
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
        """Stop the sequencers of these clusters, all at once: shielded, each within
        ``call_timeout_s``, never raising."""

        async def stop(name: str, adapter: InstrumentAdapter) -> None:
            try:
                await self._call(name, "stop", adapter.stop)
            except Exception:
                log.exception("stopping the sequencers failed", cluster=name)
            else:
                log.info("sequencers stopped", cluster=name)

        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for name in names:
                    adapter = self.clusters.get(name)
                    if adapter is not None:
                        tg.start_soon(stop, name, adapter)

    async def failure_report(
        self, names: Iterable[str]
    ) -> tuple[dict[str, Any], dict[str, SequencerFlags]]:
        """What each cluster says about itself after a failure, read at once, each within
        ``FLAGS_TIMEOUT_S``: its health and system flags, and the flags its sequencers raised
        (clusters whose sequencers raised none are left out of the second)."""
        health: dict[str, Any] = {}
        flags: dict[str, SequencerFlags] = {}

        async def read(name: str, adapter: InstrumentAdapter) -> None:
            try:
                with anyio.fail_after(FLAGS_TIMEOUT_S):
                    found = await adapter.health()
            except Exception as exc:
                health[name] = {"error": f"health not read: {type(exc).__name__}: {exc}"}
            else:
                health[name] = {k: found[k] for k in _FLAG_KEYS if k in found}
            try:
                with anyio.fail_after(FLAGS_TIMEOUT_S):
                    raised = await adapter.sequencer_flags()
            except Exception:
                log.exception("reading the sequencer flags failed", cluster=name)
            else:
                if raised:
                    flags[name] = raised

        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for name in names:
                    adapter = self.clusters.get(name)
                    if adapter is not None:
                        tg.start_soon(read, name, adapter)
        return dict(sorted(health.items())), dict(sorted(flags.items()))

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
