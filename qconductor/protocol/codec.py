"""msgpack framing with numpy arrays as raw ZeroMQ frames.

A message is a list of frames: frame 0 is the msgpack body; every numpy array inside it is
replaced by an extension value naming a later frame, its dtype and its shape, and that frame
carries the array's bytes unchanged (no per-element encoding, zero-copy on send). Decoding
checks everything a peer could get wrong (frame index, dtype kind, byte count) and raises
:class:`~qconductor.protocol.errors.QconductorError` with code ``MALFORMED_MESSAGE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np

from qconductor.protocol.errors import ErrorCode, QconductorError

Frame = bytes | bytearray | memoryview
ARRAY_EXT = 1
# Numeric kinds only: an object dtype from a peer would be a deserialisation hole.
_ALLOWED_KINDS = frozenset("biufc")
MAX_DIMS = 8


def encode(obj: Any) -> list[Frame]:
    """Frames for ``obj`` (maps, lists, str, bytes, numbers, bools, None, numpy arrays)."""
    frames: list[Frame] = [b""]

    def default(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)
            if array.dtype.kind not in _ALLOWED_KINDS:
                raise TypeError(f"cannot send arrays of dtype {array.dtype}")
            frames.append(array.data.cast("B") if array.size else b"")
            header = msgpack.packb([len(frames) - 1, array.dtype.str, list(array.shape)])
            return msgpack.ExtType(ARRAY_EXT, header)
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"cannot encode {type(value).__name__}")

    frames[0] = msgpack.packb(obj, default=default, use_bin_type=True)
    return frames


def decode(frames: Sequence[Frame]) -> Any:
    """The object ``encode`` made; arrays are read-only views of their frames."""
    if not frames:
        raise _malformed("empty message")

    def ext_hook(code: int, data: bytes) -> Any:
        if code != ARRAY_EXT:
            raise _malformed(f"unknown msgpack extension type {code}")
        try:
            index, dtype_str, shape = msgpack.unpackb(data)
            dtype = np.dtype(dtype_str)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise _malformed(f"bad array header: {exc}") from exc
        return _array(frames, index, dtype, shape)

    try:
        return msgpack.unpackb(
            frames[0], ext_hook=ext_hook, raw=False, strict_map_key=False, use_list=True
        )
    except QconductorError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise _malformed(f"not a msgpack message: {exc}") from exc


def _array(frames: Sequence[Frame], index: Any, dtype: np.dtype[Any], shape: Any) -> Any:
    if not isinstance(index, int) or not 1 <= index < len(frames):
        raise _malformed(f"array refers to frame {index!r}; the message has {len(frames)}")
    if dtype.kind not in _ALLOWED_KINDS:
        raise _malformed(f"array dtype {dtype} is not numeric")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(isinstance(n, int) and n >= 0 for n in shape)
    ):
        raise _malformed(f"bad array shape {shape!r}")
    buffer = memoryview(frames[index]).cast("B")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if buffer.nbytes != expected:
        raise _malformed(
            f"array frame {index} has {buffer.nbytes} bytes; shape {shape} of {dtype} "
            f"needs {expected}"
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def _malformed(message: str) -> QconductorError:
    return QconductorError(ErrorCode.MALFORMED_MESSAGE, message)
