"""The client library: :class:`AsyncClient`, and :class:`Client`, its blocking face.

``AsyncClient`` is written once; ``Client`` is derived from it (each method runs the async one
on a private event-loop thread), so the two cannot drift apart::

    with Client("tcp://127.0.0.1:5710") as client:
        result = client.submit(schedule)
        print(result.acquisitions[0])

    async with AsyncClient("tcp://127.0.0.1:5710") as client:
        job = await client.compile(schedule)
        await client.arm(job.job_id)
        await client.start(job.job_id)
        result = await client.retrieve(job.job_id)

``submit`` queues a job and waits for its result; ``enqueue`` queues it and returns at once
(then ``wait``, ``job``, ``retrieve`` or ``cancel`` by its id). A client's ``name`` is its
share of the queue (round-robin between clients at equal priority); without one, each
connection is a client of its own.

One DEALER socket carries any number of concurrent requests; replies are matched by id.
Errors from the daemon are raised as :class:`~qconductor.protocol.errors.QconductorError`
with the daemon's code, message and path.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import anyio
import numpy as np
import numpy.typing as npt
import zmq
import zmq.asyncio
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal, start_blocking_portal

from qconductor.protocol.codec import decode, encode
from qconductor.protocol.compiled import AcquisitionKind, AcquisitionSpec, CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import (
    ArmArgs,
    CancelArgs,
    CompileArgs,
    JobArgs,
    ReplayArgs,
    RetrieveArgs,
    StartArgs,
    StatusArgs,
    SubmitArgs,
    WaitArgs,
    error_from_body,
    request_message,
)
from qconductor.protocol.operations import Coordinate
from qconductor.protocol.schedule import Schedule
from qconductor.protocol.stream import StreamMessage, decode_replay

DEFAULT_ADDRESS = "tcp://127.0.0.1:5710"
# How much longer than the daemon-side timeout a client waits for the reply itself.
REPLY_GRACE_S = 10.0


TERMINAL_STATES = frozenset({"done", "failed", "cancelled"})


@dataclass(frozen=True)
class JobInfo:
    """A job as the daemon describes it (compile, arm, start, enqueue, job, wait, cancel).

    ``error`` of a failed job: ``phase``, ``code``, ``message``, ``path``, ``hint``,
    ``details``, ``instrument`` (each cluster's health and system flags) and ``flags`` (the
    flags each sequencer raised, also :attr:`flags`); of a cancelled one: ``reason``, ``code``
    (``JOB_CANCELLED``, ``JOB_EXPIRED``) and ``message``. ``raw`` holds the rest
    (``queue_position``, ``progress``, ``duration_ns``...)."""

    job_id: str
    state: str
    timestamps: dict[str, float]
    sequencers: list[dict[str, Any]]
    compiled: CompiledJob | None = None
    error: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def flags(self) -> dict[str, dict[str, list[str]]]:
        """A failed job's sequencer flags: cluster -> ``module<slot>.sequencer<n>`` -> the
        error and warning flags it raised, as the instrument names them, e.g.
        ``{"cluster0": {"module2.sequencer0": ["ACQ BIN INDEX INVALID"]}}``. Empty when the
        job did not fail, or failed with no sequencer raising a flag."""
        flags: dict[str, dict[str, list[str]]] = (self.error or {}).get("flags") or {}
        return flags

    @classmethod
    def from_reply(cls, result: dict[str, Any]) -> JobInfo:
        compiled = result.get("compiled")
        return cls(
            job_id=result["job_id"],
            state=result["state"],
            timestamps=result.get("timestamps", {}),
            sequencers=result.get("sequencers", []),
            compiled=CompiledJob.model_validate(compiled) if compiled else None,
            error=result.get("error"),
            raw=result,
        )


ChannelData = npt.NDArray[np.complex128] | npt.NDArray[np.float64]


@dataclass(frozen=True)
class JobResult(JobInfo):
    """A finished job: its acquisitions by acquisition channel.

    ``acquisitions[ch]`` is complex (SSB and separated weighted integration, trace) or real
    (summed weights, thresholded, trigger count); shape ``(num_bins,)`` in average mode,
    ``(repetitions, num_bins)`` in append mode, ``(samples,)`` for a trace.
    ``acquisition_specs[ch]`` says how the channel was acquired (kind, bin mode, bins,
    integration length, where) and holds its bins' coordinates; ``kinds`` and ``coords`` are
    shortcuts. A daemon older than these fields sends none: they are empty then."""

    acquisitions: dict[int, ChannelData] = field(default_factory=dict)
    acquisition_specs: dict[int, AcquisitionSpec] = field(default_factory=dict)

    @property
    def kinds(self) -> dict[int, AcquisitionKind]:
        """Acquisition channel -> its kind (``ssb_integration``, ``trace``, ...)."""
        return {ch: spec.kind for ch, spec in self.acquisition_specs.items()}

    @property
    def coords(self) -> dict[int, dict[int, dict[str, Coordinate]]]:
        """Acquisition channel -> bin index -> the coordinates the schedule gave that bin."""
        return {ch: spec.coords for ch, spec in self.acquisition_specs.items()}

    @classmethod
    def from_reply(cls, result: dict[str, Any]) -> JobResult:
        info = JobInfo.from_reply(result)
        acquisitions = {int(k): np.asarray(v) for k, v in result.get("acquisitions", {}).items()}
        specs = [AcquisitionSpec.model_validate(s) for s in result.get("acquisition_specs", [])]
        return cls(
            **info.__dict__,
            acquisitions=acquisitions,
            acquisition_specs={s.acq_channel: s for s in specs},
        )


class AsyncClient:
    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout_s: float = 60.0,
        context: zmq.asyncio.Context | None = None,
        name: str | None = None,
    ) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.name = name
        self._own_context = context is None
        self._context = context or zmq.asyncio.Context()
        self._socket: zmq.asyncio.Socket | None = None
        self._pending: dict[int, tuple[anyio.Event, list[Any]]] = {}
        self._ids = itertools.count(1)
        self._send_lock = anyio.Lock()
        self._tg: TaskGroup | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.address)
        self._socket = sock
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._receive, sock)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the socket; a request still waiting for its reply fails at once."""
        self._closed = True
        for done, _ in self._pending.values():
            done.set()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)
            self._tg = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        if self._own_context:
            self._context.term()

    # --- the verbs ---------------------------------------------------------------------------
    async def compile(
        self,
        schedule: Schedule,
        *,
        hardware_config: dict[str, Any] | None = None,
        include_program: bool = False,
    ) -> JobInfo:
        args = CompileArgs(
            schedule=schedule, hardware_config=hardware_config, include_program=include_program
        )
        return JobInfo.from_reply(await self.request(args))

    async def arm(self, job_id: str) -> JobInfo:
        return JobInfo.from_reply(await self.request(ArmArgs(job_id=job_id)))

    async def start(self, job_id: str) -> JobInfo:
        return JobInfo.from_reply(await self.request(StartArgs(job_id=job_id)))

    async def retrieve(self, job_id: str, *, timeout_s: float | None = None) -> JobResult:
        wait = timeout_s or self.timeout_s
        reply = await self.request(
            RetrieveArgs(job_id=job_id, timeout_s=wait), timeout_s=wait + REPLY_GRACE_S
        )
        return JobResult.from_reply(reply)

    async def submit(
        self,
        schedule: Schedule,
        *,
        hardware_config: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        priority: int = 0,
        ttl_s: float | None = None,
    ) -> JobResult:
        """Queue the schedule and wait (at most ``timeout_s``) for its result. A job not ended
        by then is a ``TIMEOUT`` error; the job itself goes on."""
        wait = timeout_s or self.timeout_s
        args = SubmitArgs(
            schedule=schedule,
            hardware_config=hardware_config,
            timeout_s=wait,
            priority=priority,
            ttl_s=ttl_s,
            client=self.name,
        )
        return JobResult.from_reply(await self.request(args, timeout_s=wait + REPLY_GRACE_S))

    async def enqueue(
        self,
        schedule: Schedule,
        *,
        hardware_config: dict[str, Any] | None = None,
        priority: int = 0,
        ttl_s: float | None = None,
    ) -> JobInfo:
        """Queue the schedule and return at once (state ``queued``, or further)."""
        args = SubmitArgs(
            schedule=schedule,
            hardware_config=hardware_config,
            wait=False,
            priority=priority,
            ttl_s=ttl_s,
            client=self.name,
        )
        return JobInfo.from_reply(await self.request(args))

    async def job(self, job_id: str) -> JobInfo:
        """The job as it is now."""
        return JobInfo.from_reply(await self.request(JobArgs(job_id=job_id)))

    async def wait(self, job_id: str, *, timeout_s: float | None = None) -> JobInfo:
        """The job once it has ended, or as it is after ``timeout_s`` (check ``ended``)."""
        wait = timeout_s or self.timeout_s
        reply = await self.request(
            WaitArgs(job_id=job_id, timeout_s=wait), timeout_s=wait + REPLY_GRACE_S
        )
        return JobInfo.from_reply(reply)

    async def status(self) -> dict[str, Any]:
        return await self.request(StatusArgs())

    async def cancel(self, job_id: str) -> JobInfo:
        """Cancel a job at any stage before it ends (a running job's hardware is stopped)."""
        return JobInfo.from_reply(await self.request(CancelArgs(job_id=job_id)))

    async def replay(
        self, stream: str, from_seq: int, to_seq: int | None = None
    ) -> list[StreamMessage]:
        """Messages of a data-socket stream from the daemon's replay buffer (fills the gaps a
        :class:`~qconductor.protocol.stream.Subscriber` found: ``sub.fill_gaps(client.replay)``).
        """
        args = ReplayArgs(stream=stream, from_seq=from_seq, to_seq=to_seq)
        return decode_replay(await self.request(args))

    # --- transport ---------------------------------------------------------------------------
    async def request(self, args: Any, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Send one request and return its result, or raise the daemon's error."""
        if self._socket is None:
            raise RuntimeError("use the client inside 'async with' (or call __aenter__)")
        if self._closed:
            raise RuntimeError("the client is closed")
        request_id = next(self._ids)
        done = anyio.Event()
        slot: list[Any] = []
        self._pending[request_id] = (done, slot)
        try:
            async with self._send_lock:
                await self._socket.send_multipart(encode(request_message(request_id, args)))
            wait = timeout_s if timeout_s is not None else self.timeout_s
            with anyio.move_on_after(wait):
                await done.wait()
        finally:
            self._pending.pop(request_id, None)
        if not slot and self._closed:
            raise RuntimeError(f"the client was closed before {self.address} replied")
        if not slot:
            raise QconductorError(
                ErrorCode.TIMEOUT,
                f"no reply from {self.address} within {wait} s (is the daemon running?)",
            )
        reply = slot[0]
        if reply.get("ok"):
            result: dict[str, Any] = reply.get("result", {})
            return result
        raise error_from_body(reply.get("error"))

    async def _receive(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            frames = await sock.recv_multipart(copy=False)
            try:
                reply = decode([f.buffer for f in frames])
            except QconductorError:
                continue  # not ours to answer; the waiting request times out
            if not isinstance(reply, dict):
                continue
            pending = self._pending.get(reply.get("id"))  # type: ignore[arg-type]
            if pending is not None:
                pending[1].append(reply)
                pending[0].set()


P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Awaitable[R]],
) -> Callable[Concatenate[Client, P], R]:
    """The blocking twin of an ``AsyncClient`` method, run on the client's portal thread."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async def run() -> R:
            return await method(self._async, *args, **kwargs)

        return self._portal.call(run)

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class Client:
    """Blocking client: the same verbs as :class:`AsyncClient`, for scripts and notebooks."""

    def __init__(
        self, address: str = DEFAULT_ADDRESS, *, timeout_s: float = 60.0, name: str | None = None
    ) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = start_blocking_portal(
            backend="asyncio"
        )
        self._portal = self._portal_cm.__enter__()
        try:
            client = self._portal.call(_make, address, timeout_s, name)
            # Entered and exited in one task of the portal, as a task group requires.
            self._client_cm = self._portal.wrap_async_context_manager(client)
            self._async = self._client_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    compile = _blocking(AsyncClient.compile)
    arm = _blocking(AsyncClient.arm)
    start = _blocking(AsyncClient.start)
    retrieve = _blocking(AsyncClient.retrieve)
    submit = _blocking(AsyncClient.submit)
    enqueue = _blocking(AsyncClient.enqueue)
    job = _blocking(AsyncClient.job)
    wait = _blocking(AsyncClient.wait)
    status = _blocking(AsyncClient.status)
    cancel = _blocking(AsyncClient.cancel)
    replay = _blocking(AsyncClient.replay)
    request = _blocking(AsyncClient.request)

    def close(self) -> None:
        """Close the client; a call still waiting in another thread (or one interrupted by
        Ctrl-C) fails at once instead of waiting out its timeout."""
        if self._portal_cm is None:
            return
        try:
            self._client_cm.__exit__(None, None, None)
        finally:
            with contextlib.suppress(RuntimeError):  # the portal stopped already
                self._portal.call(self._portal.stop, True)  # cancel what is left
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _make(address: str, timeout_s: float, name: str | None) -> AsyncClient:
    # Created on the portal's loop so its locks and events belong to that loop.
    return AsyncClient(address, timeout_s=timeout_s, name=name)
