"""One dedicated thread per cluster through which every driver call goes.

qblox-instruments' public methods are synchronous wrappers around a private asyncio loop that
the driver binds to the thread which created the ``Cluster``. Called from the daemon's running
event loop they raise (or block it); called from two threads at once they fail. So each cluster
gets one :class:`DriverThread`: the ``Cluster`` is created, called and closed there, and the
daemon awaits each call with an explicit deadline while its event loop keeps running.

Deadlines and hung calls. A call that outlives its deadline raises ``TIMEOUT``; Python cannot
interrupt it, so it keeps the thread busy until the driver returns (or forever). Later calls
queue behind it, their deadline counting from submission: if the hung call never returns they
time out too, and a call that times out while still queued is dropped, never run later. The
thread reports itself unhealthy (:attr:`DriverThread.healthy`, :attr:`DriverThread.busy_with`)
from a timeout until a call succeeds again. The thread is a daemon thread, so a driver hung for
good cannot keep the process from exiting.

Driver exceptions are translated here, once, into ``INSTRUMENT_ERROR`` with the original chained;
a :class:`QconductorError` raised by the called function passes through unchanged. Awaiting needs
anyio's asyncio backend (the daemon's): completion is delivered with :func:`asyncio.wrap_future`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

import anyio
import structlog

from qconductor.protocol.compiled import ParameterValue, SequenceDict
from qconductor.protocol.errors import ErrorCode, QconductorError

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_MAX_ARG_CHARS = 300

_WorkItem = tuple[Future[Any], Callable[[], Any], str]


def describe_exception(exc: BaseException) -> str:
    """A one-line account of a driver exception. The context qcodes appends as extra args
    (``"setting c_module2_sequencer0_sequence to {...}"``, which can hold whole waveforms) is
    dropped: our messages name the item themselves. Long arguments are cut."""
    args = [a for a in exc.args if not str(a).startswith(("setting ", "getting "))]
    parts = []
    for arg in args or exc.args or (str(exc),):
        text = str(arg)
        parts.append(text if len(text) <= _MAX_ARG_CHARS else text[:_MAX_ARG_CHARS] + "...")
    return f"{type(exc).__name__}: {'; '.join(parts)}"


def _consume(fut: asyncio.Future[Any]) -> None:
    """Mark a shielded waiter's exception as retrieved (it is logged where awaited)."""
    if not fut.cancelled():
        fut.exception()


class DriverThread:
    """A single worker thread that runs driver calls in order; awaited from the event loop."""

    def __init__(self, name: str, *, kind: str = "cluster") -> None:
        """``kind`` names the instrument in messages and logs ("cluster", "local oscillator")."""
        self.name = name
        self.kind = kind
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._closed = False
        self._last_ok = True
        self._overdue: tuple[Future[Any], str] | None = None
        self._log = structlog.get_logger(__name__).bind(instrument=f"{kind} {name}")
        thread_name = f"driver-{kind.replace(' ', '-')}-{name}"
        self._thread = threading.Thread(target=self._work, name=thread_name, daemon=True)
        self._thread.start()

    # --- state ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy_with(self) -> str | None:
        """The call that outlived its deadline and is still running, if any."""
        if self._overdue is None or self._overdue[0].done():
            return None
        return self._overdue[1]

    @property
    def healthy(self) -> bool:
        """False from a timed-out (or refused) call until the next call succeeds, and while a
        timed-out call still occupies the thread."""
        return self._last_ok and self.busy_with is None and not self._closed

    # --- calls ---------------------------------------------------------------------------------

    async def call(
        self,
        fn: Callable[[*Ts], T],
        *args: *Ts,
        timeout_s: float,
        what: str | None = None,
        path: str = "",
    ) -> T:
        """Run ``fn(*args)`` on the thread; raise ``TIMEOUT`` after ``timeout_s`` seconds.

        ``what`` names the call in errors and logs (default: the function's name); ``path``
        is the path of the item the call is about, carried by the errors.
        """
        label: str = what or str(getattr(fn, "__qualname__", fn))
        fut = self._submit(lambda: fn(*args), label, path)
        waiter = asyncio.wrap_future(fut)
        ahead = self.busy_with
        try:
            with anyio.move_on_after(timeout_s):
                try:
                    result: T = await waiter
                except QconductorError:
                    self._last_ok = False
                    raise
                except Exception as exc:
                    self._last_ok = False
                    raise QconductorError(
                        ErrorCode.INSTRUMENT_ERROR,
                        f"{self.kind} {self.name}: {label} failed: {describe_exception(exc)}",
                        path,
                    ) from exc
                self._last_ok = True
                return result
        finally:
            # Deadline or outer cancellation: cancelling the waiter cancelled ``fut``, which
            # drops it if it had not started; a started call keeps the thread busy.
            if fut.running():
                self._overdue = (fut, label)
        # Only our own deadline lands here; an outer cancellation propagates from the await.
        self._last_ok = False
        self._log.error("driver call timed out", call=label, timeout_s=timeout_s, behind=ahead)
        queued = f" (queued behind {ahead}, which is still running)" if ahead else ""
        raise QconductorError(
            ErrorCode.TIMEOUT,
            f"{self.kind} {self.name}: driver call {label} did not return within {timeout_s:g} s"
            f"{queued}",
            path,
            hint="the driver thread stays busy until the call returns; later calls queue behind",
        )

    async def aclose(self, final: Callable[[], object] | None, *, timeout_s: float) -> bool:
        """Run ``final`` (e.g. closing the Cluster) as the last call, then end the thread.

        Idempotent. ``final`` is never dropped: if the thread is busy it runs whenever the
        current call returns. Returns False if it had not completed within ``timeout_s``.
        """
        if self._closed:
            return True
        fut = self._submit(final or (lambda: None), "close", "")
        self._closed = True
        self._queue.put(None)
        waiter = asyncio.wrap_future(fut)
        waiter.add_done_callback(_consume)
        with anyio.move_on_after(timeout_s):
            try:
                await asyncio.shield(waiter)
            except Exception as exc:
                self._log.warning("closing the driver failed", error=describe_exception(exc))
            return True
        self._log.error("driver thread did not finish closing", timeout_s=timeout_s)
        return False

    # --- internals -----------------------------------------------------------------------------

    def _submit(self, job: Callable[[], Any], label: str, path: str) -> Future[Any]:
        if self._closed:
            raise QconductorError(
                ErrorCode.INSTRUMENT_ERROR,
                f"{self.kind} {self.name}: {label} refused: the adapter is closed",
                path,
            )
        fut: Future[Any] = Future()
        self._queue.put((fut, job, label))
        return fut

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, job, _label = item
            if not fut.set_running_or_notify_cancel():
                continue  # its caller timed out (or was cancelled) while it was queued
            try:
                result = job()
            except BaseException as exc:  # handed to the awaiting task, never lost here
                fut.set_exception(exc)
            else:
                fut.set_result(result)


@dataclass(frozen=True)
class SequencerState:
    """A sequencer's status as plain data (the driver's ``SequencerStatus``, flattened)."""

    slot: int
    sequencer: int
    status: str  # OKAY | WARNING | ERROR
    state: str  # IDLE | ARMED | RUNNING | Q1_STOPPED | STOPPED
    info: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    log: str = ""

    def __str__(self) -> str:
        parts = [f"slot {self.slot} sequencer {self.sequencer}: {self.status}/{self.state}"]
        for label, flags in (("errors", self.errors), ("warnings", self.warnings)):
            if flags:
                parts.append(f"{label} {','.join(flags)}")
        return " ".join(parts + ([f"log {self.log}"] if self.log else []))


class ClusterSession:
    """One open connection: a :class:`DriverThread` and the ``Cluster`` created on it.

    The methods that touch ``cluster`` run ON the driver thread (the adapter hands them to
    ``self.thread.call``); errors name the cluster, slot, sequencer and parameter. Closing is
    bound to the session, so a close still queued behind a hung call can only ever close the
    Cluster of its own session, never one opened later.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.thread = DriverThread(name)
        self.cluster: Any = None  # set and used on the driver thread only

    def path(self, slot: int, seq: int | None = None) -> str:
        module = f"clusters[{self.name}].modules[{slot}]"
        return module if seq is None else f"{module}.sequencers[{seq}]"

    def where(self, slot: int, seq: int | None = None) -> str:
        module = f"cluster {self.name} slot {slot}"
        return module if seq is None else f"{module} sequencer {seq}"

    def create(
        self, qcodes_name: str, cluster_types: Mapping[int, str] | None, ip: str | None
    ) -> dict[int, str]:
        """Create the Cluster (dummy: ``cluster_types`` = slot -> ClusterType member name,
        with our assembler seam); returns slot -> module type as compiled jobs name it."""
        from qblox_instruments import Cluster, ClusterType

        from qconductor.adapters.qblox.dummy import install_assembler_seam

        if cluster_types is not None:
            cfg = {slot: getattr(ClusterType, kind) for slot, kind in cluster_types.items()}
            self.cluster = Cluster(qcodes_name, dummy_cfg=cfg)
            install_assembler_seam(self.cluster)
        else:
            self.cluster = Cluster(qcodes_name, identifier=ip)
        found = {}
        for slot, mod in self.cluster.get_connected_modules().items():
            kind = str(mod.module_type.name)  # QCM-RF is a QCM that is_rf_type
            found[slot] = f"{kind}_RF" if mod.is_rf_type and kind in ("QCM", "QRM") else kind
        return found

    def close_cluster(self) -> None:
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            cluster.close()

    def set_parameters(
        self,
        slot: int,
        seq: int | None,
        changes: Sequence[tuple[str, ParameterValue]],
        optional: Mapping[str, object],
    ) -> None:
        """Set module (``seq`` None) or sequencer parameters in order. A parameter the driver
        lacks is skipped if ``optional`` maps it to the value given (a neutral default)."""
        module = self.cluster.modules[slot - 1]
        target = module if seq is None else module.sequencers[seq]
        base = self.path(slot, seq) + (".parameters" if seq is None else ".settings")
        for name, value in changes:
            param = target.parameters.get(name)
            if param is None:
                if name in optional and optional[name] == value:
                    continue  # e.g. demod_en_acq=False on a QCM, which has no such parameter
                raise QconductorError(
                    ErrorCode.INSTRUMENT_ERROR,
                    f"{self.where(slot, seq)}: the driver has no parameter {name}",
                    f"{base}.{name}",
                )
            try:
                param.set(value)
            except Exception as exc:
                raise QconductorError(
                    ErrorCode.INSTRUMENT_ERROR,
                    f"{self.where(slot, seq)}: cannot set {name} = {value!r}: "
                    f"{describe_exception(exc)}",
                    f"{base}.{name}",
                ) from exc

    def upload(self, slot: int, seq: int, sequence: SequenceDict) -> None:
        """Upload a sequence; a failed assembly's log (ours on a dummy) joins the message."""
        try:
            self.cluster.modules[slot - 1].sequencers[seq].sequence(sequence.to_driver())
        except Exception as exc:
            log = self._failed_assembly_log(slot)
            raise QconductorError(
                ErrorCode.INSTRUMENT_ERROR,
                f"{self.where(slot, seq)}: uploading the sequence failed: "
                f"{describe_exception(exc)}" + (f"\nassembler log:\n{log}" if log else ""),
                self.path(slot, seq) + (".sequence.program" if log else ".sequence"),
            ) from exc

    def _failed_assembly_log(self, slot: int) -> str:
        try:
            if self.cluster.get_assembler_status(slot):
                return ""
            return str(self.cluster.get_assembler_log(slot)).strip()
        except Exception:
            return ""

    def read_states(self, keys: Sequence[tuple[int, int]]) -> list[SequencerState]:
        """One ``get_sequencer_statuses`` call for all (slot, sequencer) keys."""
        statuses = self.cluster.get_sequencer_statuses(list(keys))
        return [
            SequencerState(
                slot,
                seq,
                str(st.status.name),
                str(st.state.name),
                tuple(str(f.name) for f in st.info_flags),
                tuple(str(f.name) for f in st.warn_flags),
                tuple(str(f.name) for f in st.err_flags),
                str(st.log) if st.log else "",
            )
            for (slot, seq), st in zip(keys, statuses, strict=True)
        ]

    def read_acquisitions(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Any]:
        """(slot, sequencer) -> the driver's ``get_acquisitions`` dict, for each key."""
        out = {}
        for slot, seq in keys:
            try:
                out[slot, seq] = self.cluster.get_acquisitions(slot, seq)
            except Exception as exc:
                raise QconductorError(
                    ErrorCode.INSTRUMENT_ERROR,
                    f"{self.where(slot, seq)}: reading acquisitions failed: "
                    f"{describe_exception(exc)}",
                    self.path(slot, seq),
                ) from exc
        return out

    def read_health(self) -> dict[str, Any]:
        idn = self.cluster.get_idn()
        status = self.cluster.get_system_status()
        firmware = idn.get("firmware", {})
        return {
            "idn": idn,
            "driver_version": firmware.get("driver", {}).get("version"),
            "firmware_version": firmware.get("application", {}).get("version"),
            "system_status": str(status.status.name),
            "system_flags": [str(f.name) for f in status.flags],
            "slot_flags": {
                slot: [str(f.name) for f in flags]
                for slot, flags in enumerate(status.slot_flags, start=1)
                if flags
            },
        }
