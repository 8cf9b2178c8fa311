"""LIL against Gaussian augmentation (issue 52): the report's head-to-head and the claims
row follow the records, the rival is matched in clean accuracy, and the Pareto figure of
clean against noise accuracy is drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lilbench.cli import main
from lilbench.reports.claims import build_claims
from lilbench.reports.noise_baseline import head_to_head, sides
from lilbench.results.suite_results import ModelResult, collect_suite
from lilbench.suites import load_suite

SUITE = """\
name: tiny-aug
dataset: mnist
train: {epochs: 1, width: 8, limit: 300}
methods:
  - objective: lil
    beta: [0, 1]
  - objective: gaussian-aug
    sigma: [0.25]
  - objective: gaussian-aug
    sigma: [0.5]
    beta: 1
seeds: [0, 1]
test_limit: 150
noise: {gaussian: [0.3], draws: 2}
corruptions: {names: [fog]}
attacks:
  - name: fgsm
    eps: [0.1]
"""

CLAIMS = """\
title: Tiny claims
claims:
  - id: general
    claim: robustness to general perturbations
    quote: not necessarily to general perturbations
    where: Abstract
    suites: [tiny.yaml]
    evidence: general-perturbations
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("noise-baseline")
    (base / "tiny.yaml").write_text(SUITE)
    (base / "claims.yaml").write_text(CLAIMS)
    runs = base / "runs"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(base / "tiny.yaml"), "--runs-dir", str(runs), "--workers", "1"])
    assert exc.value.code in (0, None)
    return base, runs


def _set_noise(runs: Path, base: Path, label: str, correct: float) -> None:
    """A share of the images correct under every draw of every noise point, the rest never."""
    results, _ = collect_suite(load_suite(base / "tiny.yaml"), runs_dir=runs)
    for r in results:
        if r.label != label or r.checkpoint is None:
            continue
        folder = runs / "diagnostics" / r.checkpoint.config_hash[:16]
        for path in folder.glob("noise-*.json"):
            rec = json.loads(path.read_text())
            values = rec["values"]
            n, draws = values["n"], values["draws"]
            counts = np.where(np.arange(n) < int(correct * n), draws, 0).astype(np.uint8)
            for p in values["points"]:
                if p["level"] > 0:
                    p["counts"] = counts.tobytes().hex()
            path.write_text(json.dumps(rec))


def _results(base: Path, runs: Path) -> list[ModelResult]:
    return collect_suite(load_suite(base / "tiny.yaml"), runs_dir=runs)[0]


def test_lil_against_gaussian_augmentation_follows_the_records(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    base, runs = tiny
    results = _results(base, runs)
    # LIL + noise (gaussian-aug with beta) is neither side; cross-entropy is the reference
    assert sides(results) == (["lil beta=1"], ["gaussian-aug sigma=0.25"])

    _set_noise(runs, base, "lil beta=1", 0.9)
    _set_noise(runs, base, "gaussian-aug sigma=0.25", 0.2)
    found = {h.source.name: h for h in head_to_head(_results(base, runs))}
    noise = found["Gaussian sigma 0.3"]
    assert noise.ours == "lil beta=1" and noise.rival == "gaussian-aug sigma=0.25"
    assert noise.significant and noise.winner == "lil beta=1"
    assert noise.boot.value == pytest.approx(0.7, abs=0.01)
    assert "mean over corruptions" in found  # the corruptions are compared too

    _set_noise(runs, base, "gaussian-aug sigma=0.25", 1.0)
    noise = {h.source.name: h for h in head_to_head(_results(base, runs))}["Gaussian sigma 0.3"]
    assert noise.winner == "gaussian-aug sigma=0.25" and noise.boot.value < 0

    _, rows = build_claims(base / "claims.yaml", runs_dir=runs, out_dir=tmp_path)
    text = rows[0].strong
    assert "against Gaussian augmentation" in text
    assert "more accurate: gaussian-aug sigma=0.25 at Gaussian sigma 0.3" in text

    with pytest.raises(SystemExit) as exc:
        main(
            ["report", str(base / "tiny.yaml"), "--runs-dir", str(runs), "--out-dir", str(tmp_path)]
        )
    assert exc.value.code in (0, None)
    report = (tmp_path / "tiny-aug.md").read_text()
    assert "### LIL against the defence built for noise (Gaussian augmentation)" in report
    assert "More accurate: gaussian-aug sigma=0.25 at Gaussian sigma 0.3" in report
    png = tmp_path / "tiny-aug-noise-pareto.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "tiny-aug-noise-pareto.png" in report
