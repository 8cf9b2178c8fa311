"""What a runs directory holds, and what in it is garbage (`lilbench runs list | gc`).

Every record kind (attack, model checks, certificate, topology, diagnostic) is listed and
checked alike against its schema. Garbage: records whose checkpoint is gone or was retrained
(they name other weights), files that are not valid records, and scratch directories and
temporary files that an interrupted write left behind. Lock files are listed but are no
problem (every run leaves them); gc removes the idle ones.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import ValidationError

from lilbench.errors import LilbenchError
from lilbench.results.diagnostic_records import FOLDER as DIAGNOSTICS
from lilbench.results.topology_records import FOLDER as TOPOLOGY
from lilbench.schemas import (
    AttackRecord,
    CertificateRecord,
    ChecksRecord,
    DiagnosticRecord,
    RecordModel,
    SmoothingRecord,
    TopologyRecord,
)
from lilbench.store import ATTACKS, CERTIFICATES, CHECKS, SMOOTHING, WEIGHTS, require_runs_dir
from lilbench.training.checkpoint import Checkpoint, is_external, read_checkpoint


@dataclass(frozen=True)
class Entry:
    kind: str  # model, attack, checks, certificate, topology, diagnostic, lock, leftover
    path: Path
    bytes: int
    status: str  # ok, kept, foreign, orphan, stale, malformed, corrupt, leftover
    detail: str = ""

    @property
    def garbage(self) -> bool:
        """What gc may delete. `kept` (a record of a corrupt checkpoint: it may be reused once
        the model is retrained), `foreign` (not named as lilbench names its files) and
        `corrupt` (a checkpoint) are reported, never deleted."""
        return self.status not in ("ok", "kept", "foreign", "corrupt")


# Names lilbench gives its record folders (a config hash, or an external model's key) and
# files (<what>-<key[:16]>.json): gc deletes only files it can prove are its own.
RECORD_FOLDER = re.compile(r"^(ext-)?[0-9a-f]{12,16}$")
RECORD_FILE = re.compile(r"^[\w.+-]+-[0-9a-f]{16}\.json$")


def _inside(runs: Path, path: Path) -> bool:
    """`path` lies in the runs directory itself: no symbolic link on the way down from `runs`
    (a link under attacks/, or attacks/ itself being one, leads out of it)."""
    try:
        rel = path.relative_to(runs)
    except ValueError:
        return False
    probe = runs
    for part in rel.parts:
        probe = probe / part
        if probe.is_symlink():
            return False
    return True


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _models(runs: Path) -> tuple[list[Entry], dict[str, Checkpoint | None]]:
    """The checkpoints, and by name each one that was read (None: there, but corrupt)."""
    entries: list[Entry] = []
    found: dict[str, Checkpoint | None] = {}
    for d in sorted((runs / "models").glob("*")):
        if d.name.startswith(".") or d.suffix in (".lock", ".tmp"):
            continue  # scratch and locks: see _leftovers
        if not _inside(runs, d):
            entries.append(Entry("model", d, 0, "foreign", "a symbolic link: left alone"))
            continue
        if not d.is_dir() or not ((d / WEIGHTS).is_file() or is_external(d)):
            found[d.name] = None
            entries.append(Entry("model", d, _size(d), "corrupt", f"no {WEIGHTS}"))
            continue
        try:
            ckpt = read_checkpoint(d)
        except LilbenchError as exc:
            found[d.name] = None
            entries.append(Entry("model", d, _size(d), "corrupt", str(exc)))
            continue
        found[d.name] = ckpt
        entries.append(Entry("model", d, _size(d), "ok", ckpt.config.label()))
    return entries, found


@dataclass(frozen=True)
class RecordKind:
    """One folder of records under the runs directory, and the schema its records follow."""

    kind: str
    folder: str
    schema: type[RecordModel]


RECORD_KINDS = (
    RecordKind("attack", ATTACKS, AttackRecord),
    RecordKind("checks", CHECKS, ChecksRecord),
    RecordKind("certificate", CERTIFICATES, CertificateRecord),
    RecordKind("smoothing", SMOOTHING, SmoothingRecord),
    RecordKind("topology", TOPOLOGY, TopologyRecord),
    RecordKind("diagnostic", DIAGNOSTICS, DiagnosticRecord),
)


def _records(runs: Path, kind: RecordKind, models: dict[str, Checkpoint | None]) -> list[Entry]:
    entries = []
    for path in sorted((runs / kind.folder).glob("*/*.json")):
        if path.name.startswith("."):
            continue
        if not _inside(runs, path):
            detail = "behind a symbolic link: left alone"
            entries.append(Entry(kind.kind, path, 0, "foreign", detail))
            continue
        size = path.stat().st_size
        if not (RECORD_FOLDER.match(path.parent.name) and RECORD_FILE.match(path.name)):
            entries.append(Entry(kind.kind, path, size, "foreign", "not a name lilbench writes"))
            continue
        try:
            rec = json.loads(path.read_text())
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            entries.append(Entry(kind.kind, path, size, "malformed", str(exc).splitlines()[0]))
            continue
        legacy = kind.kind == "attack" and rec.get("schema") == 1  # adopted on first use
        if not legacy:
            try:
                kind.schema.model_validate(rec)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "the record"
                detail = f"not a valid {kind.kind} record ({where}: {first['msg']})"
                entries.append(Entry(kind.kind, path, size, "malformed", detail))
                continue
        if path.parent.name in models and models[path.parent.name] is None:
            detail = "its checkpoint is corrupt: kept (retrain it, or remove the model)"
            entries.append(Entry(kind.kind, path, size, "kept", detail))
            continue
        ckpt = models.get(path.parent.name)
        if ckpt is None:
            entries.append(Entry(kind.kind, path, size, "orphan", "its checkpoint is gone"))
            continue
        if _names_other_weights(rec, ckpt):
            entries.append(Entry(kind.kind, path, size, "stale", "computed on other weights"))
            continue
        entries.append(Entry(kind.kind, path, size, "ok", _label(rec, kind.kind)))
    return entries


def _label(rec: dict[str, Any], kind: str) -> str:
    if kind == "attack":
        return str(rec.get("label", kind))
    if kind == "checks":
        return "model checks"
    if kind == "certificate":
        methods = sorted({str(p.get("method")) for p in rec.get("points", [])})
        return f"certificate ({', '.join(methods)})"
    if kind == "smoothing":
        return f"smoothing (sigma {rec.get('params', {}).get('sigma')})"
    return str(rec.get("kind", kind))


def _names_other_weights(rec: dict[str, Any], ckpt: Checkpoint) -> bool:
    named = rec.get("checkpoint")
    if rec.get("kind") == "model-checks":
        return rec.get("tensors_sha256", ckpt.tensors_sha256) != ckpt.tensors_sha256
    if "weights" in rec:  # topology and diagnostic records
        return bool(rec.get("weights") != ckpt.tensors_sha256)
    if not isinstance(named, dict):
        return False
    if "tensors_sha256" in named:
        return bool(named["tensors_sha256"] != ckpt.tensors_sha256)
    # Layout 1: keyed by the file's SHA-256, adopted on first use while that still matches.
    return bool(named.get("weights_sha256") != ckpt.meta.get("weights_sha256"))


def _leftovers(runs: Path) -> list[Entry]:
    out = []
    for path in sorted(runs.rglob("*")):
        if not _inside(runs, path):
            continue
        scratch = path.is_dir() and path.parent.name == "models" and path.name.startswith(".")
        if scratch or (path.is_file() and path.name.endswith(".tmp")):
            out.append(Entry("leftover", path, _size(path), "leftover", "interrupted write"))
        elif path.is_file() and path.suffix == ".lock":
            # every run leaves its locks (filelock never deletes them): not a problem; gc
            # tidies the idle ones
            out.append(Entry("lock", path, 0, "ok", "lock file"))
    return out


def inventory(runs: Path) -> list[Entry]:
    """Every entry of a runs directory that lilbench marked as its own (refused otherwise)."""
    require_runs_dir(runs)
    models, found = _models(runs)
    return [
        *models,
        *(e for k in RECORD_KINDS for e in _records(runs, k, found)),
        *_leftovers(runs),
    ]


def collect_garbage(runs: Path, *, dry_run: bool) -> list[Entry]:
    """Delete (or, with dry_run, only list) the garbage; a lock that a running process holds
    is left alone."""
    removed = []
    for entry in inventory(runs):
        tidy = entry.kind == "lock"
        if not entry.garbage and not tidy:
            continue  # a corrupt checkpoint (and what is not lilbench's) is never deleted
        if not _inside(runs, entry.path):
            continue  # checked again just before deleting: nothing outside is touched
        if entry.path.suffix == ".lock":
            try:
                with FileLock(str(entry.path), timeout=0):
                    if not dry_run:
                        entry.path.unlink(missing_ok=True)
            except Timeout:
                continue  # held: an item is being computed
        elif not dry_run:
            if entry.path.is_dir():
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                entry.path.unlink(missing_ok=True)
        removed.append(entry)
    return removed
