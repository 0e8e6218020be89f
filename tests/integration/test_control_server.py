"""The control socket over real ZeroMQ sockets on loopback, with a stand-in handler."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgpack
import numpy as np
import pytest
import zmq
import zmq.asyncio

from qconductor.daemon.server import PARSE_IN_THREAD_BYTES, ControlServer
from qconductor.protocol.client import AsyncClient, Client
from qconductor.protocol.codec import decode, encode
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import (
    PROTOCOL_VERSION,
    Request,
    RetrieveArgs,
    StatusArgs,
)

pytestmark = pytest.mark.anyio


async def handler(request: Request, peer: str) -> dict[str, Any]:
    """Status answers at once (with the peer it came from); retrieve sleeps for its timeout,
    then returns an array; job id "boom" is a handler defect."""
    if isinstance(request, RetrieveArgs):
        if request.job_id == "boom":
            raise KeyError("a handler's own KeyError")
        await anyio.sleep(request.timeout_s)
        return {"acquisitions": {"0": np.arange(4, dtype=np.complex128)}}
    assert isinstance(request, StatusArgs)
    return {"ok": True, "peer": peer}


@pytest.fixture
async def address() -> AsyncIterator[str]:
    ctx = zmq.asyncio.Context()
    server = ControlServer(ctx, "tcp://127.0.0.1:0", handler, max_bytes=1 << 20)
    async with anyio.create_task_group() as tg:
        endpoint = await tg.start(server.serve)
        assert endpoint.startswith("tcp://127.0.0.1:")
        yield endpoint
        tg.cancel_scope.cancel()
    ctx.destroy(linger=0)


async def test_slow_request_does_not_block_others(address: str) -> None:
    async with AsyncClient(address, timeout_s=10) as client:
        finished: list[str] = []

        async def slow() -> None:
            reply = await client.request(RetrieveArgs(job_id="j", timeout_s=1.0))
            np.testing.assert_array_equal(reply["acquisitions"]["0"], np.arange(4))
            finished.append("slow")

        async def fast() -> None:
            await client.request(StatusArgs())
            finished.append("fast")

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            tg.start_soon(fast)
        assert finished == ["fast", "slow"]


async def test_handler_defect_is_internal_not_unknown_verb(address: str) -> None:
    async with AsyncClient(address, timeout_s=10) as client:
        with pytest.raises(QconductorError) as info:
            await client.request(RetrieveArgs(job_id="boom", timeout_s=1))
        assert info.value.code == ErrorCode.INTERNAL
        assert "KeyError" in info.value.message
        assert (await client.request(StatusArgs()))["ok"] is True


async def test_req_peers_are_answered_too(address: str) -> None:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(address)
        await sock.send_multipart(
            encode({"v": PROTOCOL_VERSION, "id": "a", "verb": "status", "args": {}})
        )
        with anyio.fail_after(10):
            reply = decode(await sock.recv_multipart())
        assert reply["id"] == "a"
        assert reply["result"]["ok"] is True
    finally:
        sock.close()
        ctx.term()


async def test_each_connection_is_a_peer_of_its_own(address: str) -> None:
    async with AsyncClient(address, timeout_s=10) as a, AsyncClient(address, timeout_s=10) as b:
        first = (await a.request(StatusArgs()))["peer"]
        again = (await a.request(StatusArgs()))["peer"]
        other = (await b.request(StatusArgs()))["peer"]
    assert first == again
    assert first != other
    assert first.startswith("peer-")


async def test_a_large_request_is_parsed_off_the_loop_and_answered(address: str) -> None:
    """A body over PARSE_IN_THREAD_BYTES takes the worker-thread path; its errors keep the id."""
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    padding = "x" * (PARSE_IN_THREAD_BYTES + 1)
    try:
        sock.connect(address)
        big = {"v": PROTOCOL_VERSION, "id": 9, "verb": "status", "args": {"pad": padding}}
        await sock.send_multipart(encode(big))
        with anyio.fail_after(10):
            reply = decode(await sock.recv_multipart())
        assert reply["id"] == 9
        assert reply["error"]["code"] == ErrorCode.INVALID_REQUEST
        assert reply["error"]["path"] == "args.pad"
    finally:
        sock.close()
        ctx.term()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"\x93\x01"], ErrorCode.MALFORMED_MESSAGE),  # truncated msgpack
        ([msgpack.packb({"v": 99, "id": 1, "verb": "status"})], ErrorCode.PROTOCOL_VERSION),
        ([msgpack.packb({"v": PROTOCOL_VERSION, "id": 1, "verb": "fly"})], ErrorCode.UNKNOWN_VERB),
    ],
)
async def test_bad_messages_get_error_replies(
    address: str, frames: list[bytes], code: ErrorCode
) -> None:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(address)
        await sock.send_multipart(frames)
        with anyio.fail_after(10):
            reply = decode(await sock.recv_multipart())
        assert reply["ok"] is False
        assert reply["error"]["code"] == code
    finally:
        sock.close()
        ctx.term()


async def test_silent_peer_is_a_timeout_not_a_hang() -> None:
    ctx = zmq.asyncio.Context()
    silent = ctx.socket(zmq.ROUTER)  # accepts the request and never answers
    silent.setsockopt(zmq.LINGER, 0)
    silent.bind("tcp://127.0.0.1:0")
    try:
        async with AsyncClient(silent.getsockopt_string(zmq.LAST_ENDPOINT), timeout_s=0.3) as c:
            with pytest.raises(QconductorError) as info:
                await c.request(StatusArgs())
        assert info.value.code == ErrorCode.TIMEOUT
    finally:
        silent.close()
        ctx.term()


async def test_closing_the_client_fails_a_request_still_waiting_at_once() -> None:
    ctx = zmq.asyncio.Context()
    silent = ctx.socket(zmq.ROUTER)
    silent.setsockopt(zmq.LINGER, 0)
    silent.bind("tcp://127.0.0.1:0")
    try:
        client = AsyncClient(silent.getsockopt_string(zmq.LAST_ENDPOINT), timeout_s=30)
        failed: list[BaseException] = []

        async def ask() -> None:
            try:
                await client.request(StatusArgs())
            except RuntimeError as exc:
                failed.append(exc)

        with anyio.fail_after(5):  # not the request's 30 s
            async with anyio.create_task_group() as tg:
                await client.__aenter__()
                tg.start_soon(ask)
                await silent.recv_multipart()  # the request is out, waiting for its reply
                await client.aclose()
        assert [str(e) for e in failed] == [
            f"the client was closed before {client.address} replied"
        ]
        with pytest.raises(RuntimeError):
            await client.request(StatusArgs())
    finally:
        silent.close()
        ctx.term()


def test_closing_the_blocking_client_does_not_wait_for_a_call_in_flight() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    silent = ctx.socket(zmq.ROUTER)
    silent.setsockopt(zmq.LINGER, 0)
    silent.setsockopt(zmq.RCVTIMEO, 5000)
    silent.bind("tcp://127.0.0.1:0")
    outcome: list[BaseException] = []
    try:
        client = Client(silent.getsockopt_string(zmq.LAST_ENDPOINT), timeout_s=30)

        def ask() -> None:  # as a call that Ctrl-C interrupted would be left
            try:
                client.status()
            except BaseException as exc:
                outcome.append(exc)

        caller = threading.Thread(target=ask)
        caller.start()
        silent.recv_multipart()  # the request is out
        started = time.monotonic()
        client.close()
        caller.join(5)
        assert time.monotonic() - started < 3  # not the call's 30 s
        assert not caller.is_alive()
        assert len(outcome) == 1
    finally:
        silent.close()
        ctx.term()


async def test_drain_waits_for_the_replies_in_flight_with_a_deadline() -> None:
    ctx = zmq.asyncio.Context()
    server = ControlServer(ctx, "tcp://127.0.0.1:0", handler, max_bytes=1 << 20)
    try:
        async with anyio.create_task_group() as tg:
            endpoint = await tg.start(server.serve)
            async with (
                AsyncClient(endpoint, timeout_s=10) as client,
                anyio.create_task_group() as asks,
            ):
                replies: list[dict[str, Any]] = []

                async def ask(seconds: float) -> None:
                    replies.append(
                        await client.request(RetrieveArgs(job_id="j", timeout_s=seconds))
                    )

                asks.start_soon(ask, 0.3)
                await client.request(StatusArgs())  # the slow request is taken by now
                started = time.monotonic()
                await server.drain(5.0)
                assert 0.1 < time.monotonic() - started < 2
                assert server.endpoint == endpoint
                # a request that outlasts the deadline: drain gives up on it in time
                asks.start_soon(ask, 30.0)
                await client.request(StatusArgs())
                started = time.monotonic()
                await server.drain(0.2)
                assert time.monotonic() - started < 1
                asks.cancel_scope.cancel()
            assert len(replies) == 1
            tg.cancel_scope.cancel()
    finally:
        ctx.destroy(linger=0)
