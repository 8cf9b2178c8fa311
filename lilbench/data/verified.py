"""Files of published data sets: read once, checked against the published SHA-256 before any
byte is parsed, and torchvision's download tried only when a machine is online."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from pathlib import Path

from lilbench.errors import DataError

OFFLINE_ENV = "LILBENCH_OFFLINE"  # set to 1 to skip torchvision's download attempt


def read_verified(path: Path, sha256: str, *, hint: str) -> bytes:
    """The bytes of `path`, after their SHA-256 matched `sha256` (the same bytes are then
    parsed, so nothing can change between the check and the use)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}; {hint}") from exc
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DataError(
            f"{path} fails its SHA-256 check (got {got[:12]}..., expected {sha256[:12]}...); {hint}"
        )
    return data


def try_torchvision(
    download: Callable[[str], object], root: Path, log: Callable[[str], None]
) -> bool:
    """Run a torchvision download into `root` (False when offline or it fails: the caller then
    names the files the user must put in place)."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
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
