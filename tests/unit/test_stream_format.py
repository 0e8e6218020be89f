"""The data socket's wire format and gap detection, without sockets."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qconductor.protocol.codec import Frame, decode, encode
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.stream import (
    Gap,
    GapTracker,
    Heartbeat,
    StreamMessage,
    acq_stream,
    check_replayed,
    check_stream_name,
    decode_frames,
    decode_replay,
    encode_replay,
    fill_gap,
    job_of,
    job_prefix,
    state_stream,
)

pytestmark = pytest.mark.anyio


def _wire(frames: list[Frame]) -> list[bytes]:
    """What arrives: every frame as its own bytes (nothing shared with the sender)."""
    return [bytes(f) for f in frames]


ARRAYS = {
    "int8": np.arange(-5, 5, dtype=np.int8),
    "uint16_2d": np.arange(12, dtype=np.uint16).reshape(3, 4),
    "float32": np.linspace(0, 1, 7, dtype=np.float32),
    "complex64": (np.arange(5) * (1 - 1j)).astype(np.complex64),
    "complex128": np.exp(1j * np.linspace(0, 3, 11)),
    "bool": np.array([True, False, True]),
    "scalar": np.array(2.5),
    "empty": np.zeros(0, dtype=np.float64),
    "empty_2d": np.zeros((0, 4), dtype=np.int32),
    "big_endian": np.arange(4, dtype=">f8"),
    "strided": np.arange(20, dtype=np.float64)[::3],
    "fortran": np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
    "transposed": np.arange(12, dtype=np.complex128).reshape(3, 4).T,
}


def test_round_trip_of_every_kind_of_array() -> None:
    meta = {"bins": 3, "kind": "ssb", "coords": {0: [1.5, 2]}, "scale": np.float32(0.5)}
    message = StreamMessage.create("job/7/acq/0", 12, meta, ARRAYS, time_s=123.25)
    out = StreamMessage.decode(_wire(message.encode()))
    assert (out.stream, out.seq, out.time) == ("job/7/acq/0", 12, 123.25)
    assert out.meta == {"bins": 3, "kind": "ssb", "coords": {0: [1.5, 2]}, "scale": 0.5}
    assert list(out.arrays) == list(ARRAYS)
    for name, array in ARRAYS.items():
        got = out.arrays[name]
        assert got.dtype == array.dtype, name
        assert got.shape == array.shape, name
        np.testing.assert_array_equal(got, array, err_msg=name)
        assert not got.flags.writeable  # a view of the received frame
    assert out.nbytes == sum(a.nbytes for a in ARRAYS.values())


def test_arrays_are_raw_frames_and_not_copied_when_contiguous() -> None:
    data = np.arange(100_000, dtype=np.complex64)
    frames = StreamMessage.create("job/1/acq/0", 1, {}, {"x": data}).encode()
    assert len(frames) == 3
    assert frames[0] == b"job/1/acq/0"
    assert len(frames[1]) < 200  # the header holds no samples
    assert memoryview(frames[2]).nbytes == data.nbytes == 800_000
    assert np.shares_memory(np.frombuffer(frames[2], dtype=np.complex64), data)
    header = msgpack.unpackb(frames[1])
    assert header["arrays"] == [{"name": "x", "dtype": "<c8", "shape": [100_000]}]
    assert set(header) == {"seq", "stream", "t", "meta", "arrays"}


def test_non_contiguous_input_is_copied_once_into_c_order() -> None:
    source = np.arange(24, dtype=np.float64).reshape(4, 6)
    message = StreamMessage.create("s", 1, {}, {"col": source[:, 1], "t": source.T})
    assert all(a.flags.c_contiguous for a in message.arrays.values())
    np.testing.assert_array_equal(message.arrays["t"], source.T)
    assert not np.shares_memory(message.arrays["col"], source)


def test_refuses_what_cannot_travel() -> None:
    with pytest.raises(TypeError, match="dtype object"):
        StreamMessage.create("s", 1, {}, {"o": np.array([object()])})
    with pytest.raises(TypeError, match="numpy arrays"):
        StreamMessage.create("s", 1, {}, {"l": [1, 2]})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="meta"):
        StreamMessage.create("s", 1, {"a": np.zeros(3)}).encode()


def _frames(header: dict[str, Any], *arrays: bytes, topic: bytes = b"s") -> list[bytes]:
    base = {"seq": 1, "stream": "s", "t": 0.0, "meta": {}, "arrays": []}
    return [topic, msgpack.packb({**base, **header}), *arrays]


@pytest.mark.parametrize(
    ("frames", "phrase"),
    [
        ([b"s"], "at least 2 frames"),
        ([b"s", b"\xc1"], "not msgpack"),
        ([b"s", msgpack.packb([1, 2])], "is a map"),
        (_frames({"seq": 0}), "sequence number"),
        (_frames({"seq": True}), "sequence number"),
        (_frames({}, topic=b"other"), "not the topic"),
        (_frames({"meta": [1]}), "time or meta"),
        (_frames({"arrays": [{"name": "x", "dtype": "<f8", "shape": [1]}]}), "0 frame(s)"),
        (_frames({"arrays": [{"name": "x", "dtype": "<f8", "shape": [2]}]}, b"\0" * 8), "16"),
        (_frames({"arrays": [{"name": "x", "dtype": "|O", "shape": [1]}]}, b"\0" * 8), "numeric"),
        (_frames({"arrays": [{"name": "x", "dtype": None, "shape": [1]}]}, b"\0" * 8), "dtype"),
        (_frames({"arrays": [{"name": "x", "dtype": "<f8", "shape": -1}]}, b"\0" * 8), "shape"),
        (_frames({"arrays": ["x"]}, b""), "array description"),
    ],
)
def test_malformed_messages_raise_malformed_message(frames: list[bytes], phrase: str) -> None:
    with pytest.raises(QconductorError) as info:
        decode_frames(frames)
    assert info.value.code == ErrorCode.MALFORMED_MESSAGE
    assert phrase in info.value.message


def test_heartbeat_round_trip_and_dispatch() -> None:
    heartbeat = Heartbeat(time=5.5, interval_s=1.0, last={"job/1/acq/0": 9, "status": 2})
    frames = heartbeat.encode()
    assert frames[0] == b"heartbeat"
    assert decode_frames(_wire(frames)) == heartbeat
    message = StreamMessage.create("status", 1, {"ok": True})
    assert isinstance(decode_frames(_wire(message.encode())), StreamMessage)
    with pytest.raises(QconductorError, match="stream: int"):
        decode_frames([b"heartbeat", msgpack.packb({"t": 1, "interval_s": 1, "last": {"a": "x"}})])
    with pytest.raises(QconductorError, match="2 frames"):
        decode_frames([b"heartbeat"])


def test_replay_body_travels_through_the_control_codec() -> None:
    messages = [
        StreamMessage.create("job/2/acq/1", seq, {"n": seq}, ARRAYS, time_s=float(seq))
        for seq in (4, 5)
    ]
    frames = encode(encode_replay(messages))
    # Arrays are raw frames of the reply (one per array), not msgpack elements.
    assert len(frames) == 1 + 2 * len(ARRAYS)
    out = decode_replay(decode(_wire(frames)))
    assert [(m.stream, m.seq, m.time, m.meta) for m in out] == [
        ("job/2/acq/1", 4, 4.0, {"n": 4}),
        ("job/2/acq/1", 5, 5.0, {"n": 5}),
    ]
    for name, array in ARRAYS.items():
        assert out[1].arrays[name].shape == array.shape, name  # 0-d stays 0-d
        assert out[1].arrays[name].dtype == array.dtype, name
        np.testing.assert_array_equal(out[1].arrays[name], array)


def test_malformed_replay_body() -> None:
    with pytest.raises(QconductorError) as info:
        decode_replay({"messages": [{"stream": "s"}]})
    assert info.value.code == ErrorCode.MALFORMED_MESSAGE
    with pytest.raises(QconductorError, match="list of messages"):
        decode_replay({})


def test_stream_names() -> None:
    assert job_prefix("ab12") == "job/ab12/"
    assert acq_stream("ab12", 3) == "job/ab12/acq/3"
    assert state_stream("ab12") == "job/ab12/state"
    assert job_of("job/ab12/acq/3") == "ab12"
    assert job_of("status") is None
    # The trailing slash keeps job 1's subscription from matching job 12.
    assert not acq_stream("12", 0).startswith(job_prefix("1"))
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="without '/'"):
            acq_stream(bad, 0)
    for name in ("", "heartbeat", "heartbeat/x"):
        with pytest.raises(ValueError, match="not a usable"):
            check_stream_name(name)


# --- gap detection ------------------------------------------------------------------------
def _tracker(prefix: str = "job/", *, from_start: bool = True) -> GapTracker:
    tracker = GapTracker()
    tracker.watch(prefix, from_start=from_start)
    return tracker


def test_in_order_messages_have_no_gap_and_jumps_are_gaps() -> None:
    tracker = _tracker()
    assert [tracker.on_message("job/1/acq/0", s) for s in (1, 2, 3)] == [None] * 3
    assert tracker.on_message("job/1/acq/0", 7) == Gap("job/1/acq/0", 4, 6)
    assert Gap("job/1/acq/0", 4, 6).count == 3
    assert tracker.on_message("job/1/acq/1", 1) is None  # streams are independent
    assert tracker.last == {"job/1/acq/0": 7, "job/1/acq/1": 1}


def test_heartbeat_reveals_loss_at_the_end_of_a_stream_once() -> None:
    tracker = _tracker()
    tracker.on_message("job/1/acq/0", 1)
    tracker.on_message("job/1/acq/0", 2)
    beat = Heartbeat(time=0, interval_s=1, last={"job/1/acq/0": 5})
    assert tracker.on_heartbeat(beat) == [Gap("job/1/acq/0", 3, 5)]
    assert tracker.on_heartbeat(beat) == []  # already reported
    assert tracker.on_message("job/1/acq/0", 6) is None


def test_from_start_counts_what_came_before_the_first_message() -> None:
    tracker = _tracker()
    assert tracker.on_message("job/1/acq/0", 3) == Gap("job/1/acq/0", 1, 2)
    assert tracker.on_heartbeat(Heartbeat(0, 1, {"job/1/state": 2})) == [Gap("job/1/state", 1, 2)]
    late = _tracker(from_start=False)
    assert late.on_message("job/1/acq/0", 3) is None
    assert late.on_heartbeat(Heartbeat(0, 1, {"job/1/state": 2})) == []
    assert late.on_message("job/1/state", 4) == Gap("job/1/state", 3, 3)


def test_heartbeat_ignores_streams_not_watched_and_the_longest_prefix_decides() -> None:
    tracker = _tracker("job/", from_start=False)
    tracker.watch("job/1/", from_start=True)
    beat = Heartbeat(0, 1, {"status": 9, "job/1/acq/0": 2, "job/2/acq/0": 4})
    assert tracker.on_heartbeat(beat) == [Gap("job/1/acq/0", 1, 2)]
    assert "status" not in tracker.last
    tracker.forget("job/1/")
    assert set(tracker.last) == {"job/2/acq/0"}


def test_duplicates_change_nothing_and_seq_one_is_a_restart() -> None:
    tracker = _tracker()
    for seq in (1, 2, 3):
        tracker.on_message("job/1/acq/0", seq)
    assert tracker.on_message("job/1/acq/0", 2) is None
    assert tracker.last["job/1/acq/0"] == 3
    assert tracker.on_message("job/1/acq/0", 1) is None  # the publisher started over
    assert tracker.on_message("job/1/acq/0", 2) is None


@given(
    st.integers(min_value=1, max_value=200).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(min_value=1, max_value=n)))
    )
)
def test_every_lost_message_is_in_exactly_one_gap(case: tuple[int, set[int]]) -> None:
    total, lost = case
    tracker = _tracker()
    gaps: list[Gap] = []
    for seq in range(1, total + 1):
        if seq not in lost:
            gap = tracker.on_message("job/x/acq/0", seq)
            gaps.extend([gap] if gap else [])
    gaps.extend(tracker.on_heartbeat(Heartbeat(0, 1, {"job/x/acq/0": total})))
    missing = [s for g in gaps for s in range(g.first_missing, g.last_missing + 1)]
    assert missing == sorted(lost)
    assert all(g.count >= 1 for g in gaps)


async def test_fill_gap_checks_the_replayed_range() -> None:
    gap = Gap("job/1/acq/0", 2, 3)

    async def good(stream: str, first: int, last: int) -> list[StreamMessage]:
        return [StreamMessage.create(stream, s) for s in range(first, last + 1)]

    async def short(stream: str, first: int, last: int) -> list[StreamMessage]:
        return [StreamMessage.create(stream, first)]

    assert [m.seq for m in await fill_gap(gap, good)] == [2, 3]
    with pytest.raises(QconductorError) as info:
        await fill_gap(gap, short)
    assert info.value.code == ErrorCode.MALFORMED_MESSAGE
    check_replayed(Gap("s", 1, 1), [StreamMessage.create("s", 1)])
