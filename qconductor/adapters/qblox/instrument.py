"""The Qblox cluster adapter: runs a :class:`CompiledJob` on one cluster through qblox-instruments.

Every driver call goes through the cluster's driver thread (the driver is synchronous and bound
to the thread that created the ``Cluster``): the ``Cluster`` lives in a :class:`ClusterSession`
and only code running on that thread touches it; ``qblox_instruments`` is imported there too.
Dummy (``dummy_modules``, with our assembler seam) and real (``ip``) clusters take the same path.
qcodes instrument names are global, so each ``open`` registers a fresh unique qcodes name;
``name`` stays the cluster's logical name, the one compiled jobs use.

Settings are applied "only what changed": a cache of the values last set per (slot, sequencer,
parameter) skips unchanged ones without even a thread hop. It is emptied on any error or
cancellation during ``arm``, on a timeout, on close and on (re)open.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import anyio
import structlog

from qconductor.adapters.base import AcquisitionData, SequencerFlags, flag_name, sequencer_key
from qconductor.adapters.qblox.driver_thread import ClusterSession, SequencerState
from qconductor.adapters.qblox.retrieval import convert_acquisitions, scope_targets
from qconductor.protocol.compiled import (
    ClusterProgram,
    CompiledJob,
    ModuleProgram,
    ModuleType,
    ParameterValue,
    SequencerProgram,
    SequencerSettings,
)
from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError

T = TypeVar("T")

POLL_INTERVAL_S: Final = 0.01
HEALTH_TIMEOUT_S: Final = 2.0
SUPPORTED: Final = ("QCM", "QRM", "QCM_RF", "QRM_RF")  # dummy: ClusterType.CLUSTER_<type>
# Settings a module type may lack (demod_en_acq on a QCM): skipped when they hold the default.
_SETTING_DEFAULTS: Final = {k: f.default for k, f in SequencerSettings.model_fields.items()}


def _qcodes_name(name: str) -> str:
    base = re.sub(r"\W", "_", name)
    return f"{base if base[:1].isalpha() else 'c_' + base}_{uuid.uuid4().hex[:8]}"


def _same(old: ParameterValue | None, new: ParameterValue) -> bool:
    return type(old) is type(new) and old == new


class QbloxClusterAdapter:
    """:class:`~qconductor.adapters.base.InstrumentAdapter` for one Qblox cluster."""

    def __init__(
        self,
        name: str,
        *,
        dummy_modules: Mapping[int, ModuleType] | None = None,
        ip: str | None = None,
        timeout_s: float = 10.0,
        open_timeout_s: float = 60.0,
    ) -> None:
        """``timeout_s``: deadline of each driver call; ``open_timeout_s``: of creating the
        Cluster (connecting, discovering modules, first import of the driver)."""
        if (dummy_modules is None) == (ip is None):
            raise ValueError("give exactly one of dummy_modules (simulated) or ip (hardware)")
        for slot, kind in (dummy_modules or {}).items():
            if kind not in SUPPORTED:
                raise QconductorError(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"cluster {name} slot {slot}: module type {kind} is not supported by the "
                    f"Qblox adapter yet (supported: {', '.join(SUPPORTED)})",
                    f"clusters[{name}].modules[{slot}]",
                )
        self.name = name
        self.qcodes_name = ""
        self._dummy = dict(dummy_modules) if dummy_modules is not None else None
        self._ip = ip
        self._timeout_s, self._open_timeout_s = timeout_s, open_timeout_s
        self._session: ClusterSession | None = None
        self._modules: dict[int, str] = {}  # slot -> module type, as compiled jobs name it
        self._cache: dict[tuple[int, int | None, str], ParameterValue] = {}
        self._armed: list[tuple[int, int]] = []
        self._started: list[tuple[int, int]] = []
        self._used: list[tuple[int, int]] = []  # the sequencers of the job armed last
        self.last_states: list[SequencerState] = []  # as seen when wait_done last returned
        self._log = structlog.get_logger(__name__).bind(cluster=name)

    # --- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._session is not None:
            return
        self._reset_state()
        self.qcodes_name = _qcodes_name(self.name)
        session = self._session = ClusterSession(self.name)
        dummy = self._dummy
        types = None if dummy is None else {k: f"CLUSTER_{t}" for k, t in dummy.items()}
        try:
            self._modules = await self._call(
                lambda s: s.create(self.qcodes_name, types, self._ip),
                what="create Cluster",
                timeout_s=self._open_timeout_s,
            )
        except BaseException:
            self._session = None
            with anyio.CancelScope(shield=True):
                await session.thread.aclose(session.close_cluster, timeout_s=0)
            raise
        self._log.info("cluster open", qcodes_name=self.qcodes_name, modules=self._modules)

    async def stop(self) -> None:
        self._armed, self._started = [], []
        if self._session is None:
            return
        with anyio.CancelScope(shield=True):
            await self._call(lambda s: s.cluster.stop_sequencer(), what="stop_sequencer")

    async def close(self) -> None:
        """Stop, close the Cluster on its thread and end the thread. Idempotent; driver failures
        are logged, not raised (a hung driver is abandoned with its daemon thread)."""
        session = self._session
        if session is None:
            return
        with anyio.CancelScope(shield=True):
            busy = session.thread.busy_with is not None
            if not busy:
                try:
                    await self.stop()
                except QconductorError as exc:
                    self._log.warning("stop before close failed", error=str(exc))
            self._session = None
            self._reset_state()
            wait_s = 0.0 if busy else self._timeout_s
            if not await session.thread.aclose(session.close_cluster, timeout_s=wait_s):
                self._log.error("cluster not closed yet; it closes when the driver returns")
        self._log.info("cluster closed")

    # --- job steps -----------------------------------------------------------------------------

    async def arm(self, job: CompiledJob) -> None:
        self._armed, self._started = [], []
        self._used, self.last_states = [], []  # the flags of an earlier job are not this one's
        program = next((c for c in job.clusters if c.name == self.name), None)
        if program is None:
            return
        self._open_session()
        self._check_modules(job, program)
        used = [(m.slot, s.index) for m in program.modules for s in m.sequencers if s.used]
        self._used = used
        try:
            await self._call(lambda s: s.cluster.stop_sequencer(), what="stop_sequencer")
            for module in program.modules:
                await self._apply_module(module)
                for sequencer in module.sequencers:
                    await self._apply_sequencer(module.slot, sequencer)
            if used:
                await self._call(lambda s: s.cluster.arm_sequencers(used), what="arm_sequencers")
        except BaseException:
            self._cache.clear()
            raise
        self._armed = used
        self._log.debug("armed", job=job.content_hash, sequencers=used)

    async def start(self) -> None:
        if not self._armed:
            return
        await self._call(lambda s: s.cluster.start_sequencer(), what="start_sequencer")
        self._started, self._armed = self._armed, []

    async def wait_done(self, timeout_s: float) -> None:
        targets = list(self._started)
        if not targets:
            return
        deadline = anyio.current_time() + timeout_s
        seen: list[SequencerState] = []
        while True:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise self._not_stopped(timeout_s, seen)
            try:
                seen = await self._call(
                    lambda s: s.read_states(targets),
                    what="get_sequencer_statuses",
                    timeout_s=min(remaining, self._timeout_s),
                )
            except QconductorError as exc:
                if exc.code == ErrorCode.TIMEOUT:
                    raise self._not_stopped(timeout_s, seen) from exc
                raise
            if all(s.state == "STOPPED" for s in seen):
                break
            await anyio.sleep(min(POLL_INTERVAL_S, remaining))
        self._started = []
        self.last_states = seen
        self._check_states(seen)

    async def retrieve(self, job: CompiledJob) -> AcquisitionData:
        specs = [a for a in job.acquisitions if a.cluster == self.name]
        if not specs:
            return {}
        keys = sorted({(a.slot, a.sequencer) for a in specs})
        scopes = scope_targets(specs)

        def read(session: ClusterSession) -> dict[tuple[int, int], Any]:  # on the driver thread
            for slot, seq, name in scopes:  # the scope joins the trace's acquisition
                session.cluster.store_scope_acquisition(slot, seq, name)
            return session.read_acquisitions(keys)

        what = "store_scope_acquisition and get_acquisitions" if scopes else "get_acquisitions"
        raw = await self._call(read, what=what)
        return convert_acquisitions(specs, raw)

    async def health(self) -> dict[str, Any]:
        thread = self._session.thread if self._session is not None else None
        info: dict[str, Any] = {
            "name": self.name,
            "qcodes_name": self.qcodes_name,
            "mode": "dummy" if self._dummy is not None else "ip",
            "address": self._ip,
            "open": thread is not None,
            "busy_with": thread.busy_with if thread else None,
            "modules": dict(self._modules),
        }
        if thread is not None and thread.busy_with is None:
            try:
                info |= await self._call(
                    ClusterSession.read_health, what="health", timeout_s=HEALTH_TIMEOUT_S
                )
            except QconductorError as exc:
                info["error"] = str(exc)
        info["healthy"] = thread is not None and thread.healthy
        return info

    async def sequencer_flags(self) -> SequencerFlags:
        """The error and warning flags of the last armed job's sequencers, read from the
        instrument now (they stay until the next arm); while a driver call hangs, those seen
        when ``wait_done`` last returned."""
        keys, session = list(self._used), self._session
        if not keys or session is None:
            return {}
        states = self.last_states
        if session.thread.busy_with is None:
            try:
                states = await self._call(
                    lambda s: s.read_states(keys),
                    what="get_sequencer_statuses",
                    timeout_s=HEALTH_TIMEOUT_S,
                )
            except QconductorError as exc:
                self._log.warning("sequencer flags not read", error=str(exc))
        return {
            sequencer_key(st.slot, st.sequencer): [flag_name(f) for f in (*st.errors, *st.warnings)]
            for st in states
            if st.errors or st.warnings
        }

    async def run_on_driver(
        self, fn: Callable[[Any], T], *, what: str = "run_on_driver", timeout_s: float | None = None
    ) -> T:
        """Run ``fn(cluster)`` on the driver thread (diagnostics and tests); errors as usual."""
        return await self._call(lambda s: fn(s.cluster), what=what, timeout_s=timeout_s)

    # --- loop-side helpers ---------------------------------------------------------------------

    def _open_session(self) -> ClusterSession:
        if self._session is None:
            raise QconductorError(
                ErrorCode.INSTRUMENT_ERROR,
                f"cluster {self.name} is not open (call open() first)",
                f"clusters[{self.name}]",
            )
        return self._session

    async def _call(
        self,
        fn: Callable[[ClusterSession], T],
        *,
        what: str,
        path: str = "",
        timeout_s: float | None = None,
    ) -> T:
        """Run ``fn(session)`` on the session's thread. Bound to the session current now, so a
        call still queued after a close and reopen never reaches the new Cluster."""
        session = self._open_session()
        try:
            return await session.thread.call(
                fn,
                session,
                timeout_s=self._timeout_s if timeout_s is None else timeout_s,
                what=what,
                path=path or f"clusters[{self.name}]",
            )
        except QconductorError as exc:
            if exc.code == ErrorCode.TIMEOUT:
                self._cache.clear()  # whatever the hung call did is unknown
            raise

    def _reset_state(self) -> None:
        self._cache, self._modules, self._armed, self._started = {}, {}, [], []
        self._used, self.last_states = [], []

    def _check_modules(self, job: CompiledJob, program: ClusterProgram) -> None:
        diagnostics = []
        for module in program.modules:
            found, need = self._modules.get(module.slot), f"the job needs a {module.module_type}"
            if module.module_type not in SUPPORTED:
                problem = f"module type {module.module_type} is not supported by this adapter yet"
            elif found is None:
                problem = f"slot {module.slot} is empty, {need}"
            elif found != module.module_type:
                problem = f"slot {module.slot} holds a {found}, {need}"
            else:
                continue
            path = f"clusters[{self.name}].modules[{module.slot}]"
            diagnostics.append(
                Diagnostic(code=ErrorCode.INSTRUMENT_MISMATCH, message=problem, path=path)
            )
        if diagnostics:
            raise QconductorError.from_diagnostics(
                ErrorCode.INSTRUMENT_MISMATCH,
                f"job {job.schedule_name} on cluster {self.name}",
                diagnostics,
            )

    def _changes(
        self, slot: int, seq: int | None, wanted: Mapping[str, ParameterValue]
    ) -> list[tuple[str, ParameterValue]]:
        return [(k, v) for k, v in wanted.items() if not _same(self._cache.get((slot, seq, k)), v)]

    async def _apply_module(self, module: ModuleProgram) -> None:
        changes = self._changes(module.slot, None, module.parameters)
        if not changes:
            return
        slot = module.slot
        await self._call(
            lambda s: s.set_parameters(slot, None, changes, {}),
            what=f"set module parameters of slot {slot}",
            path=f"clusters[{self.name}].modules[{slot}]",
        )
        self._cache.update({(slot, None, k): v for k, v in changes})

    async def _apply_sequencer(self, slot: int, sequencer: SequencerProgram) -> None:
        index, sequence = sequencer.index, sequencer.sequence
        changes = self._changes(slot, index, sequencer.settings.parameters())
        if not changes and sequence is None:
            return

        def configure(session: ClusterSession) -> None:  # on the driver thread
            if changes:
                session.set_parameters(slot, index, changes, _SETTING_DEFAULTS)
            if sequence is not None:
                session.upload(slot, index, sequence)

        await self._call(
            configure,
            what=f"configure slot {slot} sequencer {index}",
            path=f"clusters[{self.name}].modules[{slot}].sequencers[{index}]",
        )
        self._cache.update({(slot, index, k): v for k, v in changes})

    def _not_stopped(self, timeout_s: float, seen: list[SequencerState]) -> Exception:
        states = "; ".join(str(s) for s in seen) or "none read"
        return QconductorError(
            ErrorCode.TIMEOUT,
            f"cluster {self.name}: sequencers did not stop within {timeout_s:g} s "
            f"(last states: {states})",
            f"clusters[{self.name}]",
        )

    def _check_states(self, seen: list[SequencerState]) -> None:
        diagnostics = []
        for st in seen:
            if st.warnings or st.status == "WARNING":
                self._log.warning("sequencer warning", state=str(st))
            if st.errors or st.status == "ERROR":
                path = f"clusters[{self.name}].modules[{st.slot}].sequencers[{st.sequencer}]"
                message = f"sequencer stopped with {st}"
                diagnostics.append(
                    Diagnostic(code=ErrorCode.INSTRUMENT_ERROR, message=message, path=path)
                )
        if diagnostics:
            raise QconductorError.from_diagnostics(
                ErrorCode.INSTRUMENT_ERROR, f"run on cluster {self.name}", diagnostics
            )
