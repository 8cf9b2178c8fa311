"""Shared by the tests: run the CLI in-process and capture what it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lilbench.cli import main
from lilbench.schemas import AttackRecord

# The smallest suite that trains and attacks (a second or two): shared by the tests that
# need one run end to end.
TINY_SUITE = """\
name: tiny
dataset: mnist
train: {epochs: 1, width: 8, limit: 300}
betas: [0]
test_limit: 100
attacks:
  - name: fgsm
    eps: [0.1]
"""


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `lilbench ARGS`."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    c = capsys.readouterr()
    return int(exc.value.code or 0), c.out, c.err


def assert_every_record_passed(runs: Path, *, model_checks: bool = False) -> int:
    """Every attack record under `runs` (and, with `model_checks`, every model-check record)
    passed every one of its checks; returns how many records were read (never zero)."""
    kinds = ["attacks", "checks"] if model_checks else ["attacks"]
    paths = [p for kind in kinds for p in sorted(runs.glob(f"{kind}/*/*.json"))]
    assert paths, f"no records under {runs}"
    for path in paths:
        rec = json.loads(path.read_text())
        failed = [c["name"] for c in rec["checks"] if not c["passed"]]
        assert rec["passed"] is True and not failed, (str(path), failed)
    return len(paths)


def attack_record(partial: dict[str, Any]) -> AttackRecord:
    """A typed attack record from the fields a test cares about, the rest filled in (points
    need only what the test sets, with n = 100 unless given; a point's accuracy follows its
    count, as a record's must)."""
    points = []
    for p in partial.get("points", []):
        point = {"n": 100, "correct": 0, **p}
        if "correct_bits" in p and "correct" not in p:  # the count its bits give
            bits = bytes.fromhex(p["correct_bits"])
            point["correct"] = sum(bin(b).count("1") for b in bits)
        point.setdefault("accuracy", point["correct"] / point["n"])
        points.append(point)
    n = partial.get("samples", {}).get("n", 100)
    full = {
        "schema": 2,
        "kind": "attack",
        "attack": "fgsm",
        "label": "fgsm",
        "sweep": "eps",
        "params": {"name": "fgsm"},
        "checkpoint": {"config_hash": "c", "tensors_sha256": "t"},
        "samples": {"n": 100},
        "seed": 0,
        "clean": {"correct": n, "accuracy": 1.0},
        "checks": [],
        "passed": True,
        **partial,
        "points": points,
    }
    return AttackRecord.model_validate(full)
