"""`lilbench export` and `lilbench plot`: every number of a report can be rebuilt from the
exported table alone."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from helpers import cli

from lilbench.reports.aggregate import attack_table, clean_table
from lilbench.results.stats import estimate
from lilbench.results.suite_results import collect_suite
from lilbench.suites import load_suite

ROOT = Path(__file__).resolve().parent.parent
CI_SUITE = ROOT / "suites" / "ci.yaml"


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("export-runs")
    from lilbench.results.suite_results import run_suite

    run_suite(load_suite(CI_SUITE), runs_dir=runs)
    return runs


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_exported_table_rebuilds_every_number_of_the_report(
    ci_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "ci.csv"
    code, out, err = cli(
        ["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--out", str(table)], capsys
    )
    assert code == 0, err
    rows = _read(table)
    assert f"{len(rows)} rows" in out
    results, missing = collect_suite(load_suite(CI_SUITE), runs_dir=ci_run)
    assert not missing
    for label in ("fgsm", "pgd"):
        _, report_rows = attack_table(results, label)  # type: ignore[misc]
        # The same table, from the CSV alone: mean over seeds per setting and grid point.
        by: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        clean: dict[str, dict[str, float]] = defaultdict(dict)
        for r in rows:
            if r["attack"] != label:
                continue
            x = float(r["eps"] if r["sweep"] == "eps" else r["step"])
            by[r["setting"]][x].append(float(r["accuracy"]))
            clean[r["setting"]][r["seed"]] = float(r["clean_accuracy"])
        for report_row in report_rows:
            setting = report_row[0]
            xs = sorted(by[setting])
            rebuilt = [estimate(by[setting][x]).fmt() for x in xs]
            assert report_row[3 : 3 + len(xs)] == rebuilt, (label, setting)
            assert report_row[2] == estimate(list(clean[setting].values())).fmt()
    # Clean accuracy of every model, and every row's interval contains its accuracy.
    _, clean_rows = clean_table(results)
    assert {r[0] for r in clean_rows} == {r["setting"] for r in rows}
    for r in rows:
        assert float(r["ci_low"]) <= float(r["accuracy"]) <= float(r["ci_high"])
        assert r["checks_passed"] == "True" and r["failed_checks"] == ""
        assert json.loads(r["attack_params"])["eps"]
        # the record, named relative to the runs directory (so a table names no scratch path)
        assert not Path(r["record"]).is_absolute() and (ci_run / r["record"]).is_file()


def test_export_with_results_missing_writes_nothing_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `report` does: exit 1 and the existing table left as it was."""
    table = tmp_path / "ci.csv"
    table.write_text("an earlier table\n")
    empty = tmp_path / "empty-runs"
    empty.mkdir()
    args = ["export", str(CI_SUITE), "--runs-dir", str(empty), "--out", str(table)]
    code, _, err = cli(args, capsys)
    assert code == 1 and "missing" in err and "no table written" in err, err
    assert table.read_text() == "an earlier table\n"
    code, out, err = cli([*args, "--allow-missing"], capsys)
    assert code == 0 and "0 rows" in out, err
    assert table.read_text().startswith("suite,model,setting")


def test_per_example_rows_add_up_to_the_recorded_accuracy(
    ci_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "ex.csv"
    args = ["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--per-example", "--out"]
    code, _, err = cli([*args, str(table)], capsys)
    assert code == 0, err
    rows = _read(table)
    points: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
    for r in rows:
        points[(r["model"], r["attack"], r["eps"], r["step"])].append(int(r["correct"]))
    summary = tmp_path / "points.csv"
    cli(["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--out", str(summary)], capsys)
    recorded = _read(summary)
    assert len(points) == len(recorded)
    for r in recorded:
        bits = points[(r["model"], r["attack"], r["eps"], r["step"])]
        assert len(bits) == int(r["n"]) == 1000
        assert sum(bits) == int(r["correct"])
        assert sum(bits) / len(bits) == pytest.approx(float(r["accuracy"]), abs=0)


def test_cards_runs_export_and_plots(
    ci_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = tmp_path / "cards"
    table = tmp_path / "all.csv"
    code, _, err = cli(
        [
            "export",
            str(CI_SUITE),
            "--runs-dir",
            str(ci_run),
            "--out",
            str(table),
            "--cards",
            str(cards),
        ],
        capsys,
    )
    assert code == 0, err
    written = sorted(cards.glob("*.json"))
    assert len(written) == 2
    card = json.loads(written[0].read_text())
    assert card["threat_model"] == "Linf" and 0.5 < card["clean_accuracy"] <= 1
    assert card["autoattack"] is None and set(card["robust_accuracy"]) == {"fgsm"}
    assert card["checks"]["passed"] and {"art", "torch", "lilbench"} <= set(card["versions"])
    # The whole runs directory, without a suite: the same points.
    everything = tmp_path / "runs.csv"
    code, _, _ = cli(["export", "--runs-dir", str(ci_run), "--out", str(everything)], capsys)
    assert code == 0 and len(_read(everything)) == len(_read(table))
    # A figure from the table alone, and a clear error for a table it cannot draw.
    png = tmp_path / "fig.png"
    code, _, err = cli(["plot", str(table), "--out", str(png)], capsys)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    examples = tmp_path / "ex.csv"
    cli(
        [
            "export",
            str(CI_SUITE),
            "--runs-dir",
            str(ci_run),
            "--per-example",
            "--out",
            str(examples),
        ],
        capsys,
    )
    code, _, err = cli(["plot", str(examples)], capsys)
    assert code == 2 and "lacks the column" in err and "Traceback" not in err


def test_parquet_holds_the_csv_rows(
    ci_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is in the dev extra CI installs")
    csv_path, parquet_path = tmp_path / "t.csv", tmp_path / "t.parquet"
    base = ["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--out"]
    assert cli([*base, str(csv_path)], capsys)[0] == 0
    assert cli([*base, str(parquet_path), "--format", "parquet"], capsys)[0] == 0
    table = pq.read_table(parquet_path).to_pylist()
    rows = _read(csv_path)
    assert len(table) == len(rows) > 0
    assert [r["correct"] for r in table] == [int(r["correct"]) for r in rows]
    png = tmp_path / "p.png"
    assert cli(["plot", str(parquet_path), "--out", str(png)], capsys)[0] == 0 and png.is_file()


def test_bad_export_and_plot_targets_fail_in_one_line(
    ci_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["export", str(CI_SUITE), "--out", str(tmp_path)], "is a directory"),
        (["export", str(CI_SUITE), "--out", str(a_file / "t.csv")], "is a file, not a directory"),
        (["export", str(CI_SUITE), "--cards", str(a_file)], "is a file, not a directory"),
        (["plot", str(tmp_path)], "is a directory"),
    ]
    for args, message in cases:
        code, _, err = cli([*args, "--runs-dir", str(ci_run)], capsys)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)


def test_per_image_rows_agree_with_the_bits_and_apply_the_clean_rule(
    ci_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mnist: object
) -> None:
    table = tmp_path / "images.csv"
    args = ["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--per-image", "--out"]
    code, _, err = cli([*args, str(table)], capsys)
    assert code == 0, err
    rows = _read(table)
    examples = tmp_path / "ex.csv"
    args = ["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--per-example", "--out"]
    assert cli([*args, str(examples)], capsys)[0] == 0
    correct = {
        (r["model"], r["eps"], r["index"]): r["correct"] == "1"
        for r in _read(examples)
        if r["attack"] == "fgsm"
    }
    labels = mnist.y_test[:1000].tolist()  # type: ignore[attr-defined]
    eps_by_model: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        eps_by_model[r["model"]].add(r["eps"])
        i = int(r["index"])
        assert int(r["label"]) == labels[i]
        broken = r["broken:fgsm"] == "1"
        clean = r["clean_correct"] == "1"
        # robust = correct unperturbed and at the returned point: an attack never makes an
        # image misclassified clean count as robust, nor breaks an image already wrong
        assert broken == (clean and not correct[(r["model"], r["eps"], r["index"])])
        assert (r["first_broken_by"] == "fgsm") == broken
        # the indicators that fired on the image at that eps, as name:attack
        assert all(f.endswith(":fgsm") for f in r["indicators"].split(";") if f)
        minimal = float(r["minimal_eps_any"])
        if not clean:
            assert minimal == 0
        elif broken:
            assert 0 < minimal <= float(r["eps"])
        else:  # not broken here (FGSM is not monotone: it may break it at a smaller eps)
            assert minimal != float(r["eps"])
    assert len(eps_by_model) == 2 and all(len(e) == 5 for e in eps_by_model.values())
    assert len(rows) == 2 * 5 * 1000
    # Parquet too: values that do not apply are nulls there (empty cells in CSV)
    import pyarrow.parquet as pq

    parquet = tmp_path / "images.parquet"
    args = ["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--per-image", "--format"]
    assert cli([*args, "parquet", "--out", str(parquet)], capsys)[0] == 0
    back = pq.read_table(parquet)
    assert back.num_rows == len(rows)
    assert back.column("first_broken_by").null_count == sum(not r["first_broken_by"] for r in rows)
    # the model-level minimal eps is the smallest eps whose row says broken
    per_image: dict[tuple[str, str], list[tuple[float, bool, float]]] = defaultdict(list)
    for r in rows:
        per_image[(r["model"], r["index"])].append(
            (float(r["eps"]), r["broken:fgsm"] == "1", float(r["minimal_eps_any"]))
        )
    for (_, _), found in per_image.items():
        broke = [e for e, b, _ in found if b]
        if broke:
            assert found[0][2] == min(broke)


def test_per_image_needs_a_suite_and_one_layout(
    ci_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(["export", "--runs-dir", str(ci_run), "--per-image"], capsys)
    assert code == 2 and "needs a suite" in err
    both = ["export", str(CI_SUITE), "--runs-dir", str(ci_run), "--per-image", "--per-example"]
    code, _, err = cli(both, capsys)
    assert code == 2 and "choose one" in err
