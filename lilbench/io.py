"""Atomic file writes and hashing: nothing half-written is ever left under a final name."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock

T = TypeVar("T")


def symlink_loop(path: Path, *, below: bool = False) -> Path | None:
    """The first symbolic link on `path` (or, with `below`, anywhere under it) that never
    resolves because it points back into itself; None when there is none. pathlib reads such
    a link as "does not exist", so without this a loop surfaces later as a traceback."""
    probe = Path(os.path.abspath(path))
    for part in [*reversed(probe.parents), probe]:
        if _loops(part):
            return part
    if below and probe.is_dir():
        for folder, dirs, files in os.walk(probe):
            for name in [*dirs, *files]:
                if _loops(Path(folder) / name):
                    return Path(folder) / name
    return None


def _loops(path: Path) -> bool:
    if not os.path.islink(path):
        return False
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces, so equal content hashes equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it over `final` only on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); results are meant to be shared and read.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a scratch directory beside `final`; on success it replaces `final` as a whole
    (an older one is removed first), so a reader sees the old directory or the new one."""
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        # mkdtemp makes the directory private (0700): a shared runs directory needs the
        # umask's permissions, as mkdir would give
        os.chmod(scratch, 0o777 & ~_umask())
        yield scratch
        if final.exists():
            shutil.rmtree(final)
        os.replace(scratch, final)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_json_atomic(final: Path, obj: Any) -> None:
    write_bytes_atomic(final, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def get_or_compute(
    load: Callable[[], T | None],
    compute: Callable[[], T],
    *,
    lock: Path,
    force: bool = False,
) -> tuple[T, bool]:
    """The one rule for cached results: reuse what `load` finds unless `force`, else compute
    (and `compute` writes it). Returns (result, reused).

    Computing holds a file lock, so a second process asking for the same item waits and then
    reuses it instead of computing it again. The lock is an OS lock on an open file (flock):
    a process that dies releases it, so a killed run leaves nothing stuck.
    """
    if not force:
        found = load()
        if found is not None:
            return found, True
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        if not force:  # finished by another process while this one waited
            found = load()
            if found is not None:
                return found, True
        return compute(), False
