from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli

from lilbench.reports.summary import normalised_auc
from lilbench.results.suite_results import collect_suite, item_count, run_suite
from lilbench.suites import load_suite

ROOT = Path(__file__).resolve().parents[1]
CI_SUITE = ROOT / "suites" / "ci.yaml"
CI_BASELINE = ROOT / "suites" / "baselines" / "ci.json"


@pytest.fixture(scope="session")
def ci_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ci-runs")  # a clean runs directory


def test_ci_suite_passes_its_baseline(ci_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What CI guards: the seeded CI suite, from scratch, within tolerance of the baseline."""
    code, out, err = cli(
        ["check", str(CI_SUITE), "--baseline", str(CI_BASELINE), "--runs-dir", str(ci_runs)], capsys
    )
    assert code == 0, out + err
    assert "22/22 metrics within tolerance" in err


def test_moved_baseline_fails_naming_the_metric(
    ci_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["run", str(CI_SUITE), "--runs-dir", str(ci_runs)], capsys)  # cached after the check
    base = json.loads(CI_BASELINE.read_text())
    name = "beta=1/seed=0/fgsm/eps=0.1"
    base["metrics"][name]["value"] += 0.02  # beyond the 0.005 tolerance
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(base))
    code, _, err = cli(
        ["check", str(CI_SUITE), "--baseline", str(moved), "--runs-dir", str(ci_runs)], capsys
    )
    assert code == 1
    assert f"regression: {name}" in err
    # A metric missing from the baseline is a failure too, not a skip.
    base["metrics"][name]["value"] -= 0.02
    moved.write_text(
        json.dumps(
            {
                **base,
                "metrics": {
                    k: v for k, v in base["metrics"].items() if k != "beta=0/seed=0/pgd/step=1"
                },
            }
        )
    )
    code, _, err = cli(
        ["check", str(CI_SUITE), "--baseline", str(moved), "--runs-dir", str(ci_runs)], capsys
    )
    assert code == 1 and "beta=0/seed=0/pgd/step=1" in err


@pytest.mark.parametrize(
    "text, needle",
    [
        ("name: x\nbetas: [0]\nattacks: [{name: fgsm}]\ncolour: red\n", "colour: unknown key"),
        ("name: x\nbetas: [-1]\nattacks: [{name: fgsm}]\n", "betas: beta must be >= 0"),
        ("name: x\nbetas: [0]\nattacks: [{name: fgsm, eps: [0.1, 2]}]\n", "eps must lie in [0, 1]"),
        ("name: x\nbetas: oops\nattacks: [{name: fgsm}]\n", "betas"),
        (
            "name: x\nbetas: [0]\nattacks: [{name: cw}]\n",
            "known: apgd, apgd-search, autoattack, fgsm, pgd, square",
        ),
        ("name: x\nbetas: [0]\ntrain: {epochs: two}\nattacks: [{name: fgsm}]\n", "train"),
        ("name: x\nbetas: [0]\ntrain: {epoch: 2}\nattacks: [{name: fgsm}]\n", "train.epoch"),
        ("name: x\nbetas: [0]\nattacks: [{name: pgd, steps: 1.5}]\n", "steps"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_suite_exits_2_naming_file_and_key(
    text: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    for command in (["run", str(suite)], ["check", str(suite), "--baseline", str(CI_BASELINE)]):
        code, out, err = cli([*command, "--runs-dir", str(tmp_path / "runs")], capsys)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert str(suite) in err and needle in err
    assert not (tmp_path / "runs").exists()


def test_interrupted_run_continues_without_redoing(tmp_path: Path) -> None:
    text = (
        CI_SUITE.read_text()
        .replace("limit: 10000", "limit: 1000")
        .replace("test_limit: 1000", "test_limit: 200")
    )
    path = tmp_path / "small.yaml"
    path.write_text(text)
    suite = load_suite(path)
    runs = tmp_path / "runs"
    seen: list[tuple[str, bool]] = []

    def kill_after_three(what: str, reused: bool) -> None:
        seen.append((what, reused))
        if len(seen) == 3:
            raise KeyboardInterrupt  # as if the process were killed here

    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, runs_dir=runs, on_item=kill_after_three)
    assert not any(reused for _, reused in seen)
    second: list[tuple[str, bool]] = []
    run_suite(suite, runs_dir=runs, on_item=lambda w, r: second.append((w, r)))
    assert len(second) == item_count(suite) == 6
    # Items report when their model's work is done: the kill came at the first model's first
    # attack, after both its attacks were stored; the second model's attacks were not run.
    assert [r for _, r in second] == [True, True, True, True, False, False]
    results, missing = collect_suite(suite, runs_dir=runs)
    assert missing == [] and all(rec for r in results for rec in r.attacks.values())


def test_report_writes_markdown_and_plot(
    ci_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["run", str(CI_SUITE), "--runs-dir", str(ci_runs)], capsys)
    code, _out, _ = cli(
        ["report", str(CI_SUITE), "--runs-dir", str(ci_runs), "--out-dir", str(tmp_path)], capsys
    )
    assert code == 0
    md = (tmp_path / "ci.md").read_text()
    assert "Table 1" in md and "Robust accuracy under FGSM" in md and "Sanity checks" in md
    assert "Missing results" not in md
    png = tmp_path / "ci-curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Over an empty runs directory: exit 1, naming what is missing, the old report untouched.
    empty = ["--runs-dir", str(tmp_path / "empty"), "--out-dir", str(tmp_path)]
    code, _, err = cli(["report", str(CI_SUITE), *empty], capsys)
    assert code == 1 and "missing" in err and "no report written" in err
    assert (tmp_path / "ci.md").read_text() == md
    # --allow-missing writes one with the gaps marked.
    code, _, _ = cli(["report", str(CI_SUITE), *empty, "--allow-missing"], capsys)
    assert code == 0 and "Missing results" in (tmp_path / "ci.md").read_text()


def test_normalised_auc() -> None:
    assert normalised_auc([0.01, 1.0], [1.0, 1.0]) == pytest.approx(1.0)
    assert normalised_auc([0.01, 0.1, 1.0], [1.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert normalised_auc([0.5], [0.3]) == pytest.approx(0.3)


def test_suite_files_shipped_are_valid() -> None:
    paper = load_suite(ROOT / "suites" / "paper-mnist.yaml")
    assert paper.betas == (0, 0.001, 0.01, 0.1, 1, 10) and paper.test_limit is None
    assert [a.name for a in paper.attacks] == ["fgsm", "pgd"]
    assert len(paper.attacks[0].points()) == 10 and paper.attacks[1].points()[0].eps == 0.5
