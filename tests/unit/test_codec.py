"""msgpack framing: arrays travel as raw frames; everything a peer can get wrong is refused."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from qconductor.protocol.codec import ARRAY_EXT, decode, encode
from qconductor.protocol.errors import ErrorCode, QconductorError


def test_arrays_travel_as_raw_frames() -> None:
    data = (np.arange(100_000) * (1 + 2j)).astype(np.complex128)
    frames = encode({"a": data, "n": 3, "nested": [np.float32(1.5), np.zeros((2, 3))]})
    assert len(frames) == 3
    assert len(frames[0]) < 200  # the body holds no samples
    assert memoryview(frames[1]).nbytes == data.nbytes
    out = decode([bytes(f) for f in frames])
    np.testing.assert_array_equal(out["a"], data)
    assert out["nested"][0] == 1.5
    assert out["nested"][1].shape == (2, 3)


def test_empty_array_round_trip() -> None:
    out = decode([bytes(f) for f in encode(np.zeros((0, 4), dtype=np.int16))])
    assert out.shape == (0, 4)
    assert out.dtype == np.int16


def _ext(index: int, dtype: str, shape: list[int]) -> bytes:
    header = msgpack.packb([index, dtype, shape])
    packed: bytes = msgpack.packb({"a": msgpack.ExtType(ARRAY_EXT, header)})
    return packed


@pytest.mark.parametrize(
    ("frames", "phrase"),
    [
        ([], "empty"),
        ([b"\xc1"], "not a msgpack"),
        ([_ext(5, "<f8", [1]), b"\0" * 8], "frame 5"),
        ([_ext(1, "|O", [1]), b"\0" * 8], "not numeric"),
        ([_ext(1, "<f8", [2]), b"\0" * 8], "needs 16"),
        ([_ext(1, "<f8", [-1]), b""], "shape"),
        ([_ext(1, "nonsense", [1]), b""], "bad array header"),
        ([msgpack.packb(msgpack.ExtType(9, b"x"))], "extension type 9"),
    ],
)
def test_malformed_frames_raise_malformed_message(frames: list[bytes], phrase: str) -> None:
    with pytest.raises(QconductorError) as info:
        decode(frames)
    assert info.value.code == ErrorCode.MALFORMED_MESSAGE
    assert phrase in info.value.message


def test_object_arrays_are_not_sent() -> None:
    with pytest.raises(TypeError, match="dtype object"):
        encode(np.array([object()]))
