"""The runs directory: its layout, the identity of a model's weights, and older layouts.

    <runs>/models/<config hash[:16]>/                 model.safetensors + meta.json
    <runs>/attacks/<config hash[:16]>/<attack>-<key[:16]>.json
    <runs>/checks/<config hash[:16]>/model-checks-<key[:16]>.json
    <runs>/certificates/<config hash[:16]>/certify-<key[:16]>.json
    <runs>/.locks/<the item's relative path>.lock   file locks (filelock), see io.get_or_compute

A directory is named by the training config; every result in it is keyed by the weights'
*tensor hash* (names, dtypes, shapes and bytes of the tensors; not the file, whose header
carries training timings), so retraining to the same bits keeps every result, and a result is
never served for other weights.

Layout 1 (record schema 1, lilbench before this store) keyed results by the SHA-256 of the
whole weights file. Such a record is adopted on first use: checked against the file it names,
rewritten under its new key, the old file removed, and a line logged (`lilbench.store`), so
nothing is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lilbench.errors import CheckpointError
from lilbench.io import write_json_atomic

log = logging.getLogger("lilbench.store")

MODELS = "models"
ATTACKS = "attacks"
CHECKS = "checks"
CERTIFICATES = "certificates"
SMOOTHING = "smoothing"
LOCKS = ".locks"
WEIGHTS = "model.safetensors"
META = "meta.json"
# Written when lilbench first stores something in a directory: what `runs list` and `runs gc`
# require before they read or delete anything there.
MARKER = "lilbench-runs.json"
RUNS_FORMAT = 1


def is_runs_dir(runs_dir: Path) -> bool:
    return (runs_dir / MARKER).is_file()


def mark_runs_dir(runs_dir: Path) -> None:
    """Mark `runs_dir` as lilbench's (once). A directory an earlier lilbench filled, which has
    no marker yet, is adopted with a message: nothing in it changes."""
    if is_runs_dir(runs_dir):
        return
    from lilbench.errors import ConfigError
    from lilbench.version import __version__

    if (runs_dir / MARKER).exists() or (runs_dir / MARKER).is_symlink():
        raise ConfigError(
            f"{runs_dir / MARKER} is not a file; remove it, or give another --runs-dir"
        )

    earlier = (runs_dir / MODELS).is_dir()
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        runs_dir / MARKER,
        {"kind": "lilbench runs directory", "format": RUNS_FORMAT, "created_by": __version__},
    )
    if earlier:
        log.warning("%s: marked as a lilbench runs directory (%s written)", runs_dir, MARKER)


def write_record(path: Path, record: Any) -> None:
    """A record written atomically at <runs>/<kind>/<model>/<file>, its runs directory marked
    first: a directory is marked when lilbench first stores something in it, never by a run
    that was refused before it computed anything."""
    mark_runs_dir(path.parents[2])
    write_json_atomic(path, record)


def require_runs_dir(runs_dir: Path) -> None:
    """Refuse, in one line, a directory lilbench did not mark as its own (`runs list | gc`
    read and delete only there)."""
    from lilbench.errors import ConfigError

    if not runs_dir.is_dir():
        raise ConfigError(f"{runs_dir}: no such directory")
    marker = runs_dir / MARKER
    if not marker.is_file():
        hint = (
            f"; an earlier lilbench filled it: `lilbench runs adopt {runs_dir}` marks it"
            if (runs_dir / MODELS).is_dir()
            else ""
        )
        raise ConfigError(f"{runs_dir} is not a lilbench runs directory (no {MARKER}){hint}")
    try:
        found = json.loads(marker.read_text())
        fmt = found["format"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{marker} is not lilbench's marker; remove it or fix it") from None
    if not isinstance(fmt, int) or fmt > RUNS_FORMAT:
        raise ConfigError(
            f"{runs_dir} was written by a newer lilbench (runs format {fmt}); upgrade lilbench"
        )


def model_dir(runs_dir: Path, config_hash: str) -> Path:
    return runs_dir / MODELS / config_hash[:16]


def attack_record_path(runs_dir: Path, config_hash: str, attack: str, key: str) -> Path:
    return runs_dir / ATTACKS / config_hash[:16] / f"{attack}-{key[:16]}.json"


def checks_record_path(runs_dir: Path, config_hash: str, key: str) -> Path:
    return runs_dir / CHECKS / config_hash[:16] / f"model-checks-{key[:16]}.json"


def certificate_record_path(runs_dir: Path, config_hash: str, key: str) -> Path:
    return runs_dir / CERTIFICATES / config_hash[:16] / f"certify-{key[:16]}.json"


def smoothing_record_path(runs_dir: Path, config_hash: str, key: str) -> Path:
    return runs_dir / SMOOTHING / config_hash[:16] / f"smooth-{key[:16]}.json"


def lock_path(runs_dir: Path, item: Path) -> Path:
    """Where the lock of a runs-directory item lives: under runs/.locks, mirroring the item's
    path, so that a failed computation leaves nothing beside the results."""
    return runs_dir / LOCKS / f"{item.relative_to(runs_dir)}.lock"


def tensors_sha256(blob: bytes, *, source: str = "weights") -> str:
    """SHA-256 of the tensors in a safetensors blob: each tensor's name, dtype, shape and
    bytes, in name order. The header's free-form metadata is not part of it."""
    try:
        (size,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8 : 8 + size])
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        data = memoryview(blob)[8 + size :]
        h = hashlib.sha256()
        for name in sorted(k for k in header if k != "__metadata__"):
            entry = header[name]
            start, end = (int(v) for v in entry["data_offsets"])
            if not 0 <= start <= end <= len(data):
                raise ValueError(f"tensor {name} lies outside the file")
            desc = json.dumps([name, entry["dtype"], list(entry["shape"]), end - start])
            h.update(desc.encode() + b"\n")
            h.update(data[start:end])
        return h.hexdigest()
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{source} is not a readable safetensors file ({exc})") from exc


def tensors_sha256_file(path: Path) -> str:
    return tensors_sha256(path.read_bytes(), source=str(path))


def adopt_legacy(
    new: Path,
    legacy: Path,
    update: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    why: str = "results are now keyed by the weights' tensor hash",
) -> bool:
    """Move a layout-1 record to its layout-2 name when `update` accepts it (returns the
    rewritten record) and nothing is at the new name yet. True when a record was adopted."""
    if new.exists() or not legacy.is_file():
        return False
    try:
        record = json.loads(legacy.read_text())
    except (ValueError, UnicodeDecodeError):
        return False  # not ours to judge here: `lilbench runs gc` lists it as malformed
    rewritten = update(record) if isinstance(record, dict) else None
    if rewritten is None:
        return False
    mark_runs_dir(new.parents[2])  # <runs>/<kind>/<model>/<record>: a migrated dir is marked
    write_json_atomic(new, rewritten)
    legacy.unlink(missing_ok=True)
    log.info("migrated %s -> %s (%s)", legacy, new, why)
    return True
