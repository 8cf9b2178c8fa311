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


def _junit_cases(path: Path) -> dict[str, str | None]:
    """classname::name -> failure message (None when the case passed), validated first."""
    import xml.etree.ElementTree as ET

    import xmlschema

    xmlschema.XMLSchema(str(ROOT / "tests" / "fixtures" / "junit.xsd")).validate(str(path))
    out: dict[str, str | None] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        failure = case.find("failure")
        key = f"{case.get('classname')}::{case.get('name')}"
        out[key] = None if failure is None else str(failure.get("message"))
    return out


def test_check_writes_junit_and_a_summary_for_ci(
    ci_runs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    step = tmp_path / "step-summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    xml, md = tmp_path / "out.xml", tmp_path / "out.md"
    args = ["check", str(CI_SUITE), "--runs-dir", str(ci_runs), "--junit-xml", str(xml)]
    code, _, err = cli([*args, "--baseline", str(CI_BASELINE), "--summary", str(md)], capsys)
    assert code == 0, err
    cases = _junit_cases(xml)
    assert len(cases) == 22 and all(v is None for v in cases.values())
    assert "ci/beta=1/seed=0::fgsm/eps=0.1" in cases
    text = md.read_text()
    assert text.startswith("## lilbench check: ci passed") and "22 metric(s) within" in text
    assert step.read_text() == "earlier step\n" + text + "\n"  # appended, not replaced
    # One metric's baseline 5 points higher: exactly that metric fails, in both files.
    base = json.loads(CI_BASELINE.read_text())
    name = "beta=1/seed=0/fgsm/eps=0.1"
    value = base["metrics"][name]["value"]
    base["metrics"][name]["value"] = value + 0.05
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(base))
    code, _, err = cli([*args, "--baseline", str(moved), "--summary", str(md)], capsys)
    assert code == 1
    failed = {k: v for k, v in _junit_cases(xml).items() if v is not None}
    assert list(failed) == ["ci/beta=1/seed=0::fgsm/eps=0.1"]
    message = failed["ci/beta=1/seed=0::fgsm/eps=0.1"]
    assert message == (
        f"regression: baseline {value + 0.05:.4f}, now {value:.4f}, delta -0.0500, tolerance 0.005"
    )
    text = md.read_text()
    regressions = text.split("### Regressions")[1].split("###")[0]
    rows = [line for line in regressions.splitlines() if line.startswith("| `")]
    assert rows == [f"| `{name}` | {value + 0.05:.4f} | {value:.4f} | -0.0500 | 0.005 |"]
    assert "Improvements beyond tolerance" not in text and "21 unchanged" in text


def test_baselines_carry_provenance_and_a_difference_is_noticed_not_judged(
    ci_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lilbench.regression.provenance import FIELDS

    baseline = tmp_path / "ci.json"
    args = ["check", str(CI_SUITE), "--runs-dir", str(ci_runs), "--baseline", str(baseline)]
    code, _, err = cli([*args, "--update"], capsys)
    assert code == 0 and "new baseline: 22 metrics" in err, err
    data = json.loads(baseline.read_text())
    assert set(data["provenance"]) == set(FIELDS)
    assert data["provenance"]["suite_sha256"] == load_suite(CI_SUITE).file_sha256
    code, _, err = cli(args, capsys)
    assert code == 0 and "note:" not in err  # same machine, same versions: nothing to say
    # As if measured with another torch on another processor: said above the table ...
    now = dict(data["provenance"])
    data["provenance"].update(torch="2.15.0", cpu_capability="AVX2")
    baseline.write_text(json.dumps(data))
    code, _, err = cli(args, capsys)
    flat = " ".join(err.split())
    assert code == 0, err  # ... and the verdict still rests on the numbers
    assert (
        f"note: the baseline was measured elsewhere (torch: 2.15.0 then, {now['torch']} now; "
        f"cpu_capability: AVX2 then, {now['cpu_capability']} now): small differences are "
        "expected"
    ) in flat
    # only the processor's model differs: the note names it (not "AVX512 ... now AVX512")
    data["provenance"] = {**now, "cpu": "Some Other CPU @ 2.0GHz"}
    baseline.write_text(json.dumps(data))
    code, _, err = cli(args, capsys)
    flat = " ".join(err.split())
    assert code == 0 and f"cpu: Some Other CPU @ 2.0GHz then, {now['cpu']} now" in flat, flat
    data["provenance"].update(torch="2.15.0", cpu_capability="AVX2")
    name = "beta=0/seed=0/fgsm/eps=0.1"
    data["metrics"][name]["value"] += 0.05
    baseline.write_text(json.dumps(data))
    code, _, err = cli(args, capsys)
    assert code == 1 and "small differences are expected" in " ".join(err.split())
    # --update says what it changes before writing
    code, _, err = cli([*args, "--update"], capsys)
    flat = " ".join(err.split())
    assert code == 0 and f"changed {name}:" in flat and "-0.0500" in flat
    assert "provenance torch: 2.15.0 -> " in flat


def test_strict_turns_failed_sanity_checks_into_junit_failures(tmp_path: Path) -> None:
    from lilbench.regression import ci_output
    from lilbench.regression.baseline import Row

    rows = [Row("beta=0/seed=0/fgsm/eps=0.1", 0.5, 0.5, 0.005)]
    bad = [ci_output.CheckFailure("beta=0/seed=0/fgsm", ("robust <= clean accuracy",))]
    for strict, expect in ((False, 0), (True, 1)):
        path = tmp_path / f"{strict}.xml"
        ci_output.write_junit(path, "s", rows, bad, strict=strict)
        failed = {k: v for k, v in _junit_cases(path).items() if v is not None}
        assert len(failed) == expect
    assert failed == {
        "s/beta=0/seed=0::fgsm/sanity checks": "failed checks: robust <= clean accuracy"
    }


def test_a_throwaway_report_section_and_no_checkpoint_on_rewrite(
    ci_runs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A section registered from here (no other file touched) is rendered in its place; one
    that does not apply is left out; a report rewritten from its records loads no checkpoint
    (the weights' diagnostics are cached in the runs directory)."""
    from lilbench.reports.sections import SECTIONS, ReportContext, Section

    class Throwaway(Section):
        order = 25  # after the clean accuracy, before the attack tables

        def render(self, ctx: ReportContext) -> list[str]:
            ctx.tables["throwaway"] = (["models"], [[str(len(ctx.results))]])
            return ["## Throwaway section", "", f"{len(ctx.results)} models.", ""]

    class NotHere(Section):
        order = 26

        def applies(self, ctx: ReportContext) -> bool:
            return False

        def render(self, ctx: ReportContext) -> list[str]:
            raise AssertionError("rendered a section that does not apply")

    cli(["run", str(CI_SUITE), "--runs-dir", str(ci_runs)], capsys)
    args = ["report", str(CI_SUITE), "--runs-dir", str(ci_runs), "--out-dir"]
    assert cli([*args, str(tmp_path / "first")], capsys)[0] == 0
    SECTIONS.register("throwaway-test")(Throwaway)
    SECTIONS.register("not-here-test")(NotHere)
    try:

        def no_weights(*_: object, **__: object) -> None:
            raise AssertionError("a report from cached records loaded a checkpoint")

        monkeypatch.setattr("lilbench.results.diagnostic_records.load_model", no_weights)
        code, _, err = cli([*args, str(tmp_path / "second")], capsys)
        assert code == 0, err
    finally:
        SECTIONS._items.pop("throwaway-test", None)
        SECTIONS._items.pop("not-here-test", None)
    first = (tmp_path / "first" / "ci.md").read_text()
    second = (tmp_path / "second" / "ci.md").read_text()
    assert "## Throwaway section" not in first
    added = "## Throwaway section\n\n2 models.\n\n"
    assert second.index("## Clean accuracy") < second.index(added)
    assert second.index(added) < second.index("## Robust accuracy under FGSM")
    assert second.replace(added, "") == first  # everything else as before
