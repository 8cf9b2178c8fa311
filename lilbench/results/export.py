"""Every number out, as one tidy long table (one row per attack point), optionally one row per
test image and point, and a small JSON card per model.

Read from the stored records; nothing is computed. CSV needs nothing beyond the standard
library; Parquet needs pyarrow (`pip install pyarrow`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lilbench.attacks.base import attack_facts, standard_name
from lilbench.attacks.checks import unpack_mask
from lilbench.errors import ConfigError
from lilbench.io import write_bytes_atomic, write_json_atomic
from lilbench.results.records import read_json_record
from lilbench.results.suite_results import ModelResult
from lilbench.schemas import AttackRecord

COLUMNS = (
    "suite",
    "model",
    "setting",
    "method",
    "method_params",
    "dataset",
    "seed",
    "attack",
    "attack_name",
    "attack_params",
    "sweep",
    "eps",
    "step",
    "n",
    "correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "clean_correct",
    "clean_accuracy",
    "checks_passed",
    "failed_checks",
    "record",
)
EXAMPLE_COLUMNS = ("suite", "model", "setting", "seed", "attack", "eps", "step", "index", "correct")
FORMATS = ("csv", "parquet")


def interval(correct: int, n: int) -> tuple[float, float]:
    """The exact (Clopper-Pearson) 95% interval of an accuracy over n test images: the
    sampling error of the test set, for one model."""
    from scipy.stats import binomtest

    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def _method(train_config: dict[str, Any]) -> tuple[str, str]:
    objective = str(train_config.get("objective", "lil"))
    if objective == "lil":
        keys = ("beta", "alpha", "mode", "k")
        params = {k: train_config.get(k) for k in keys}
    else:
        params = dict(train_config.get("objective_params") or {})
    if train_config.get("spectral_norm"):
        objective += "+sn"
    return objective, json.dumps(params, sort_keys=True)


def record_rows(
    record: AttackRecord, *, suite: str, setting: str, path: str
) -> Iterator[dict[str, Any]]:
    """One row per point of an attack record."""
    ckpt = record.checkpoint
    train_config = ckpt.train_config or {}
    method, method_params = _method(train_config)
    if ckpt.external:
        method, method_params = "external", json.dumps(ckpt.external, sort_keys=True)
    failed = [c.name for c in record.checks if not c.passed]
    for p in record.points:
        low, high = interval(int(p.correct), int(p.n))
        yield {
            "suite": suite,
            "model": ckpt.config_hash[:16],
            "setting": setting,
            "method": method,
            "method_params": method_params,
            "dataset": train_config.get("dataset", ""),
            "seed": record.seed,
            "attack": record.label,
            "attack_name": record.attack,
            "attack_params": json.dumps(record.params, sort_keys=True),
            "sweep": record.sweep,
            "eps": p.eps,
            "step": p.step,
            "n": p.n,
            "correct": p.correct,
            "accuracy": p.accuracy,
            "ci_low": low,
            "ci_high": high,
            "clean_correct": record.clean.correct,
            "clean_accuracy": record.clean.accuracy,
            "checks_passed": bool(record.passed),
            "failed_checks": "; ".join(failed),
            "record": path,
        }


def example_rows(record: AttackRecord, *, suite: str, setting: str) -> Iterator[dict[str, Any]]:
    """One row per test image and point, from the record's stored per-example bits."""
    model = record.checkpoint.config_hash[:16]
    for p in record.points:
        if p.correct_bits is None:
            raise ConfigError(
                f"a {record.label} record of {model} has no per-example bits (an older "
                "record); rerun it with --force to export per example"
            )
        for i, ok in enumerate(unpack_mask(p.correct_bits, int(p.n))):
            yield {
                "suite": suite,
                "model": model,
                "setting": setting,
                "seed": record.seed,
                "attack": record.label,
                "eps": p.eps,
                "step": p.step,
                "index": i,
                "correct": int(ok),
            }


def suite_rows(
    suite: str, results: list[ModelResult], runs_dir: Path, *, per_example: bool = False
) -> Iterator[dict[str, Any]]:
    for r in results:
        if r.checkpoint is None:
            continue
        for label, rec in r.attacks.items():
            if rec is None:
                continue
            if per_example:
                yield from example_rows(rec, suite=suite, setting=r.label)
            else:
                path = _record_path(runs_dir, rec, label)
                yield from record_rows(rec, suite=suite, setting=r.label, path=path)


def _record_path(runs_dir: Path, rec: AttackRecord, label: str) -> str:
    folder = runs_dir / "attacks" / rec.checkpoint.config_hash[:16]
    found = sorted(folder.glob(f"{rec.attack}-*.json")) if folder.is_dir() else []
    for path in found:
        try:
            if json.loads(path.read_text()).get("label") == label:
                return str(path.relative_to(runs_dir))
        except (OSError, json.JSONDecodeError):
            continue
    return ""


_REMAKE = "the command that made it (`lilbench runs gc` removes every malformed record)"


def runs_rows(runs_dir: Path, *, per_example: bool = False) -> Iterator[dict[str, Any]]:
    """Every attack record of a runs directory (no suite: the setting is the model's label)."""
    from lilbench.training.config import TrainConfig

    for path in sorted((runs_dir / "attacks").glob("*/*.json")):
        rec = read_json_record(
            path,
            AttackRecord,
            fix="the command that made it (`lilbench runs gc` removes every malformed record)",
        )
        if rec is None:
            continue
        ckpt = rec.checkpoint
        if ckpt.external:
            setting = Path(str(ckpt.external.get("file") or "module")).name
        else:
            setting = TrainConfig.from_dict(ckpt.train_config or {}).label()
        if per_example:
            yield from example_rows(rec, suite="", setting=setting)
        else:
            yield from record_rows(
                rec, suite="", setting=setting, path=str(path.relative_to(runs_dir))
            )


def write_table(
    rows: Iterator[dict[str, Any]], path: Path, fmt: str, columns: tuple[str, ...]
) -> int:
    """Write the rows (atomically); returns how many."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("--format parquet needs pyarrow: pip install pyarrow") from None
        table = pa.Table.from_pylist(list(rows))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        write_bytes_atomic(path, sink.getvalue().to_pybytes())
        return int(table.num_rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    write_bytes_atomic(path, buffer.getvalue().encode())
    return count


def model_card(result: ModelResult, suite: str) -> dict[str, Any]:
    """A model's card: what it is, its clean and AutoAttack accuracy (else the worst case of
    the attacks run) per eps with n, the threat model, versions, and its checks."""
    assert result.checkpoint is not None
    ckpt = result.checkpoint
    method, params = _method(ckpt.meta["train_config"])
    robust: dict[str, list[dict[str, Any]]] = {}
    versions: dict[str, Any] = {}
    failed: list[str] = []
    for label, rec in result.attacks.items():
        if rec is None:
            continue
        versions = rec.versions or versions
        failed += [f"{label}: {c.name}" for c in rec.checks if not c.passed]
        if rec.sweep != "eps":
            continue
        # each point carries the clean accuracy of the same images: a robust accuracy over
        # --test-limit images beside the full test set's clean accuracy reads wrong
        robust[label] = [
            {
                "eps": p.eps,
                "accuracy": p.accuracy,
                "correct": p.correct,
                "n": p.n,
                "clean_accuracy_same_images": rec.clean.accuracy,
            }
            for p in rec.points
        ]
    if result.model_checks is not None:
        failed += [f"model: {c.name}" for c in result.model_checks.checks if not c.passed]
    facts = attack_facts(result.completed_attacks())
    auto = [k for k in robust if facts[k].standard]
    standard = standard_name()
    return {
        "suite": suite,
        "model": ckpt.path.name,
        "tensors_sha256": ckpt.tensors_sha256,
        "setting": result.label,
        "method": method,
        "method_params": json.loads(params),
        "seed": result.seed,
        "dataset": ckpt.config.dataset,
        "threat_model": "Linf",
        "clean_accuracy": ckpt.metrics.get("clean_test_accuracy"),
        "clean_accuracy_images": "the whole test split (robust_accuracy entries carry the "
        "clean accuracy of their own images)",
        standard: robust[auto[0]] if auto else None,
        f"{standard}_params": result.completed_attacks()[auto[0]].params if auto else None,
        "robust_accuracy": robust,
        "versions": versions,
        "checks": {"passed": not failed, "failed": failed},
    }


def write_cards(results: list[ModelResult], suite: str, folder: Path) -> list[Path]:
    paths = []
    for r in results:
        if r.checkpoint is None:
            continue
        path = folder / f"{r.checkpoint.path.name}.json"
        write_json_atomic(path, model_card(r, suite))
        paths.append(path)
    return paths
