"""The control socket: a ZeroMQ ROUTER that answers each request in its own task.

Frames in: ``[peer identity, (empty delimiter, from REQ peers), body, *array frames]``; the reply
goes back with the same routing prefix. A request that fails to decode or validate gets an error
reply with a stable code, a handler's own failure another code, and a defect in a handler is an
``INTERNAL`` error reply: the server itself never stops for one bad request. A message over
``max_bytes`` never reaches us: ZeroMQ drops the peer that sent it. Replies are sent from the
loop's thread only (a ZeroMQ socket is not safe for senders in several threads).

The handler is told which connection a request came on (``peer``: its routing identity in
hex), which the queue uses as the client's identity when a submit names none. A large request
(a schedule of many operations) is decoded and validated in a worker thread, so the event loop
never spends the tens of milliseconds that takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
import structlog
import zmq
import zmq.asyncio
from anyio.abc import TaskStatus

from qconductor.protocol.codec import decode, encode
from qconductor.protocol.collector import collector_paused
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import (
    Request,
    RequestId,
    error_reply,
    ok_reply,
    parse_request,
    request_id_of,
)

log = structlog.get_logger("qconductor.control")
Handler = Callable[[Request, str], Awaitable[dict[str, Any]]]
PARSE_IN_THREAD_BYTES = 256 * 1024  # about 5000 operations of a schedule
_POLLIN = int(zmq.POLLIN)  # a plain int: the flag enum's operators cost microseconds


class ControlServer:
    def __init__(
        self, context: zmq.asyncio.Context, bind: str, handler: Handler, *, max_bytes: int
    ) -> None:
        self._context = context
        self._bind = bind
        self._handler = handler
        self._max_bytes = max_bytes
        self.endpoint: str | None = None
        self._answering: set[asyncio.Task[None]] = set()  # cancelled and awaited at the end

    async def serve(self, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        loop = asyncio.get_running_loop()
        answering = self._answering
        sock = self._context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self._max_bytes)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 0)  # replies to vanished peers are dropped
        try:
            sock.bind(self._bind)
            self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            log.info("listening", control=self.endpoint)
            task_status.started(self.endpoint)
            while True:
                frames = await sock.recv_multipart(copy=False)
                # one plain asyncio task per request: anyio's start_soon costs about 25 µs
                # more per task, a tenth of a round trip (bench/control_latency.py)
                task = loop.create_task(self._answer(sock, [f.buffer for f in frames]))
                answering.add(task)
                task.add_done_callback(answering.discard)
                if cast(int, sock.getsockopt(zmq.EVENTS)) & _POLLIN:
                    # More is queued and would be received without yielding: let the
                    # requests taken so far run first, so a flood never holds up timers
                    # or running jobs.
                    await anyio.lowlevel.checkpoint()
        finally:
            for task in answering:
                task.cancel()
            if answering:
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(*answering, return_exceptions=True)
            sock.close(linger=0)

    async def drain(self, timeout_s: float) -> None:
        """Return once every request taken so far is answered, or after ``timeout_s``: the
        daemon's stop sequence lets the replies about the jobs it cancelled go out."""
        with anyio.move_on_after(timeout_s):
            while self._answering:
                await asyncio.wait(set(self._answering))

    async def _answer(self, sock: zmq.asyncio.Socket, frames: list[memoryview]) -> None:
        if len(frames) < 2:
            return  # a ROUTER always prefixes the identity; nothing to answer
        routing, body = _split_routing(frames)
        peer = "peer-" + bytes(routing[0]).hex()
        request_id: RequestId | None = None
        try:
            if body[0].nbytes > PARSE_IN_THREAD_BYTES:
                request_id, request = await anyio.to_thread.run_sync(_parse, body)
            else:
                request_id, request = _parse(body)
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                reply = ok_reply(request_id, await self._handler(request, peer))
        except _Refused as refused:
            reply = error_reply(refused.request_id, refused.error)
        except QconductorError as exc:
            reply = error_reply(request_id, exc)
        except Exception as exc:
            log.exception("handler failed", request_id=request_id)
            reply = error_reply(
                request_id,
                QconductorError(
                    ErrorCode.INTERNAL,
                    f"internal error ({type(exc).__name__}: {exc}); please report it with the "
                    "daemon log",
                ),
            )
        # No lock: the sends all happen on the loop's thread, and pyzmq's asyncio socket
        # sends each multipart message whole (it queues those it cannot send at once).
        await sock.send_multipart([*routing, *encode(reply)], copy=False)


class _Refused(Exception):
    """A request that failed to parse, with the id it had (if any) for the reply."""

    def __init__(self, request_id: RequestId | None, error: QconductorError) -> None:
        super().__init__(error.message)
        self.request_id = request_id
        self.error = error


def _parse(body: list[memoryview]) -> tuple[RequestId, Request]:
    request_id: RequestId | None = None
    try:
        with collector_paused():  # a large schedule: most of the time would be the GC's
            message = decode(body)
            request_id = request_id_of(message)
            return parse_request(message)
    except QconductorError as exc:
        raise _Refused(request_id, exc) from None


def _split_routing(frames: list[memoryview]) -> tuple[list[memoryview], list[memoryview]]:
    """A DEALER sends ``[id, body...]``, a REQ ``[id, b"", body...]``."""
    if len(frames) >= 3 and frames[1].nbytes == 0:
        return frames[:2], frames[2:]
    return frames[:1], frames[1:]
