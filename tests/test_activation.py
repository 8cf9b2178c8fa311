"""Tanh against ReLU in one suite (`activation:` in a method entry), the geometry panel and
activation sections of its report, and the claims rows that read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli

from lilbench.cli import main
from lilbench.reports.claims import build_claims
from lilbench.results.suite_results import collect_suite
from lilbench.suites import load_suite

SUITE = """\
name: tiny-act
dataset: mnist
train: {epochs: 1, width: 8, limit: 300}
methods:
  - objective: lil
    activation: [tanh, relu]
    beta: [0, 1]
seeds: [0, 1]
test_limit: 120
model_checks: true
geometry: true
attacks:
  - name: fgsm
    eps: [0.03, 0.1]
  - name: pgd
    eps: [0.03, 0.1]
    steps: 5
"""

CLAIMS = """\
title: Tiny claims
claims:
  - id: activation
    claim: tanh follows the targets, ReLU keeps the inputs
    quote: related work
    where: related work
    suites: [tiny.yaml]
    evidence: activation-structure
  - id: collapse
    claim: LIL prevents within-class collapse
    quote: almost perfectly
    where: Section 3.1
    suites: [tiny.yaml]
    evidence: collapse
"""


def test_activation_grid_labels_and_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SUITE)
    suite = load_suite(path)
    assert [s.label for s in suite.settings] == [
        "lil beta=0",
        "lil beta=1",
        "lil+relu beta=0",
        "lil+relu beta=1",
    ]
    # one reference: tanh at beta 0 (each activation's beta 0 is compared in its own section)
    assert [s.reference for s in suite.settings] == [True, False, False, False]
    assert suite.train_config(suite.settings[2], 0).model_params["activation"] == "relu"
    path.write_text(SUITE.replace("[tanh, relu]", "[tanh, rleu]"))
    code, out, err = cli(["run", str(path), "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "rleu" in err and "relu" in err and not (tmp_path / "runs").exists()


def test_report_sections_and_claims_follow_the_panel(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(SUITE)
    (tmp_path / "claims.yaml").write_text(CLAIMS)
    runs, out = tmp_path / "runs", tmp_path / "out"
    for args in (["run", "--workers", "1"], ["report", "--out-dir", str(out)]):
        with pytest.raises(SystemExit) as exc:
            main([args[0], str(tmp_path / "tiny.yaml"), "--runs-dir", str(runs), *args[1:]])
        assert exc.value.code in (0, None)
    text = (out / "tiny-act.md").read_text()
    assert "## Geometry of the representation" in text and "| NC1 (within-class" in text
    assert "## Tanh against ReLU" in text
    assert "| CKA input-phi |" in text and "| lil+relu beta=1 | relu |" in text

    results, _ = collect_suite(load_suite(tmp_path / "tiny.yaml"), runs_dir=runs)
    plain = {(r.label, r.seed): r for r in results if r.beta == 0 and r.checkpoint is not None}
    iso_lower = all(
        plain[("lil+relu beta=0", s)].checkpoint.metrics["test_isometry_error"]  # type: ignore[union-attr]
        < plain[("lil beta=0", s)].checkpoint.metrics["test_isometry_error"]  # type: ignore[union-attr]
        for s in (0, 1)
    )

    def set_cka(label: str, value: float) -> None:
        for s in (0, 1):
            ckpt = plain[(label, s)].checkpoint
            assert ckpt is not None
            (path,) = (runs / "diagnostics" / ckpt.config_hash[:16]).glob("geometry-*.json")
            rec = json.loads(path.read_text())
            rec["values"]["cka_input_phi"] = value
            path.write_text(json.dumps(rec))

    def verdicts() -> dict[str, str]:
        _, rows = build_claims(tmp_path / "claims.yaml", runs_dir=runs, out_dir=tmp_path / "c")
        return dict(zip(["activation", "collapse"], (r.verdict for r in rows), strict=True))

    set_cka("lil beta=0", 0.2)
    set_cka("lil+relu beta=0", 0.9)
    assert verdicts()["activation"] == ("holds" if iso_lower else "holds in part")
    set_cka("lil+relu beta=0", 0.1)
    assert verdicts()["activation"] == ("holds in part" if iso_lower else "does not hold")
    assert verdicts()["collapse"] in ("holds", "does not hold")
