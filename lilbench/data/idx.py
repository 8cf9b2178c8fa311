"""Read and write IDX files (the format MNIST ships in), with validation."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from lilbench.errors import DataError

_UBYTE = 0x08


def write_idx(path: Path, array: np.ndarray) -> bytes:
    """Serialise a uint8 array as IDX; returns the bytes (the caller writes atomically)."""
    if array.dtype != np.uint8:
        raise ValueError("IDX writer supports uint8 only")
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def read_idx(
    path: Path,
    expected_shape: tuple[int, ...],
    hint: str = "delete it and run `lilbench data prepare mnist` again",
) -> np.ndarray:
    """Read a uint8 IDX file and check its header and length against `expected_shape`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_idx(data, expected_shape, source=str(path), hint=hint)


def parse_idx(
    data: bytes, expected_shape: tuple[int, ...], *, source: str, hint: str
) -> np.ndarray:
    """The uint8 array an IDX file's bytes hold, checked against `expected_shape`; `source`
    and `hint` name the file and the fix in the error."""
    if len(data) < 4:
        raise DataError(f"{source} is truncated ({len(data)} bytes); {hint}")
    zero, zero2, dtype, ndim = struct.unpack(">BBBB", data[:4])
    if zero or zero2 or dtype != _UBYTE or ndim != len(expected_shape):
        raise DataError(f"{source} is not a uint8 IDX file of rank {len(expected_shape)}; {hint}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"{source} is truncated ({len(data)} bytes, a header of {header_len}); {hint}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    if tuple(shape) != expected_shape:
        raise DataError(f"{source} has shape {shape}, expected {expected_shape}; {hint}")
    body = data[header_len:]
    if len(body) != int(np.prod(expected_shape)):
        raise DataError(
            f"{source} is truncated ({len(body)} of {int(np.prod(expected_shape))} bytes); {hint}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(expected_shape)
