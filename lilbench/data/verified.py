"""Files of published data sets: read once, checked against the published SHA-256 before any
byte is parsed, and torchvision's download tried only when a machine is online."""

from __future__ import annotations

import hashlib
import os
import socket
import zlib
from collections.abc import Callable
from pathlib import Path

from lilbench.errors import DataError

OFFLINE_ENV = "LILBENCH_OFFLINE"  # set to 1: no network at all, local files only


def offline() -> bool:
    """True when LILBENCH_OFFLINE asks for no network access of any kind."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def read_verified(path: Path, sha256: str, *, hint: str) -> bytes:
    """The bytes of `path`, after their SHA-256 matched `sha256` (the same bytes are then
    parsed, so nothing can change between the check and the use)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}; {hint}") from exc
    return check_sha256(data, sha256, source=str(path), hint=hint)


def try_torchvision(
    download: Callable[[str], object], root: Path, log: Callable[[str], None]
) -> bool:
    """Run a torchvision download into `root` (False when offline or it fails: the caller then
    names the files the user must put in place)."""
    if offline():
        return False
    log("trying torchvision's download")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        download(str(root))
    except Exception:  # any network failure means: no download here
        log("torchvision download unavailable (offline?)")
        return False
    finally:
        socket.setdefaulttimeout(old)
    return True


def check_sha256(data: bytes, sha256: str, *, source: str, hint: str) -> bytes:
    """`data` itself, once its SHA-256 matched `sha256`."""
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DataError(
            f"{source} fails its SHA-256 check (got {got[:12]}..., expected {sha256[:12]}...); "
            f"{hint}"
        )
    return data


def gunzip_bounded(path: Path, size: int, *, hint: str) -> bytes:
    """The decompressed bytes of the gzip file `path`, which must be exactly `size` bytes.

    Decompression never produces more than `size + 1` bytes, so a file that inflates to more
    (extra bytes, another file, a gzip bomb) is refused before it can fill memory, and one
    that stops short (truncated) is refused too. Several gzip members are read in order, as
    gzip itself does."""
    out = bytearray()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16+: a gzip header and trailer
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                while chunk:
                    if inflater.eof:  # the next member (a new header is expected)
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    out += inflater.decompress(chunk, size + 1 - len(out))
                    if len(out) > size:
                        raise DataError(
                            f"{path} decompresses to more than the {size:,} bytes the file "
                            f"holds (extra bytes, or not this data set's file); {hint}"
                        )
                    chunk = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}; {hint}") from exc
    except zlib.error as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}); {hint}") from exc
    if not inflater.eof or len(out) != size:
        raise DataError(
            f"{path} is truncated (it decompresses to {len(out):,} of {size:,} bytes); {hint}"
        )
    return bytes(out)
