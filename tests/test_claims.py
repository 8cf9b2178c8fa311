"""`lilbench claims`: rows follow the results in the runs directory (a changed result flips
its row's verdict), missing results say "not run", and regenerating gives the same file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lilbench.attacks.checks import pack_mask, unpack_mask
from lilbench.cli import main
from lilbench.errors import ConfigError
from lilbench.reports.claims import build_claims, load_claims
from lilbench.results.records import record_path
from lilbench.results.suite_results import collect_suite
from lilbench.suites import load_suite

SUITE = """\
name: tiny-claims
description: Two betas, two seeds, FGSM standard and the authors' version, on 120 images.
dataset: mnist
train: {epochs: 1, width: 8, limit: 300}
betas: [0, 1]
seeds: [0, 1]
test_limit: 120
attacks:
  - name: fgsm
    eps: [0.1]
  - name: fgsm
    objective: paper
    eps: [0.1]
"""

CLAIMS = """\
title: Tiny claims
claims:
  - id: fgsm
    claim: robustness to FGSM rises with beta
    quote: a stark improvement
    where: Figure 3A
    suites: [tiny.yaml]
    evidence: robustness
    params: {authors: [fgsm-paper]}
  - id: distances
    claim: LIL keeps within-class distances
    quote: almost perfectly
    where: Figure 2B
    suites: [tiny.yaml]
    evidence: isometry
    params: {below: 10}
  - id: elsewhere
    claim: the same on another suite
    quote: not run anywhere
    where: nowhere
    suites: [never-run.yaml]
    evidence: robustness
    not_run: "it needs data this machine lacks;"
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("claims")
    (base / "tiny.yaml").write_text(SUITE)
    (base / "never-run.yaml").write_text(
        SUITE.replace("tiny-claims", "never-run").replace("test_limit: 120", "test_limit: 90")
    )
    (base / "claims.yaml").write_text(CLAIMS)
    runs = base / "runs"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(base / "tiny.yaml"), "--runs-dir", str(runs), "--workers", "1"])
    assert exc.value.code in (0, None)
    return base, runs


def _set_bits(runs: Path, suite_file: Path, label: str, beta: float, make: str) -> None:
    """Rewrite the eps 0.1 point of one attack of the beta models: every image robust
    ("all": the clean images are made all correct too, since a record never counts more
    robust than clean), or exactly the reference's images ("reference")."""
    suite = load_suite(suite_file)
    results, _ = collect_suite(suite, runs_dir=runs)
    spec = next(s for s in suite.attacks if s.label == label)
    refs = {r.seed: r.attacks[label] for r in results if r.beta == 0}
    for r in results:
        if r.beta != beta or r.checkpoint is None:
            continue
        path = record_path(runs, r.checkpoint, spec, limit=suite.test_limit, seed=r.seed)
        rec = json.loads(path.read_text())
        n = rec["samples"]["n"]
        ref_point = refs[r.seed].points[0].dump()  # type: ignore[union-attr]
        mask = (
            np.ones(n, dtype=bool)
            if make == "all"
            else unpack_mask(ref_point["correct_bits"], n) & unpack_mask(rec["clean"]["bits"], n)
        )
        if make == "all":
            rec["clean"].update(bits=pack_mask(mask), correct=n, accuracy=1.0)
        point = rec["points"][0]
        point.update(
            correct_bits=pack_mask(mask), correct=int(mask.sum()), accuracy=float(mask.mean())
        )
        path.write_text(json.dumps(rec))


def _verdicts(base: Path, runs: Path, out: Path) -> dict[str, str]:
    _, rows = build_claims(base / "claims.yaml", runs_dir=runs, out_dir=out)
    return dict(zip(["fgsm", "distances", "elsewhere"], (r.verdict for r in rows), strict=True))


def test_a_changed_result_flips_its_verdict_and_missing_says_not_run(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    base, runs = tiny
    suite = base / "tiny.yaml"
    # Both attacks leave every beta = 1 image robust: a significant rise under both.
    _set_bits(runs, suite, "fgsm", 1.0, "all")
    _set_bits(runs, suite, "fgsm-paper", 1.0, "all")
    verdicts = _verdicts(base, runs, tmp_path)
    assert verdicts["fgsm"] == "holds"
    assert verdicts["elsewhere"] == "not run here"
    text = (tmp_path / "claims.md").read_text()  # named by its claims file (issue 47.6)
    assert "it needs data this machine lacks; run `lilbench run" in text
    assert verdicts["distances"] in ("holds", "does not hold")
    # The standard attack now finds exactly the reference's images: only the authors'
    # attack shows the rise.
    _set_bits(runs, suite, "fgsm", 1.0, "reference")
    assert _verdicts(base, runs, tmp_path)["fgsm"] == "holds only under the authors' attacks"
    # Neither does.
    _set_bits(runs, suite, "fgsm-paper", 1.0, "reference")
    assert _verdicts(base, runs, tmp_path)["fgsm"] == "does not hold"


def test_regenerating_gives_the_same_file(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    base, runs = tiny
    first, _ = build_claims(base / "claims.yaml", runs_dir=runs, out_dir=tmp_path / "a")
    second, _ = build_claims(base / "claims.yaml", runs_dir=runs, out_dir=tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_the_committed_claims_file_is_valid() -> None:
    spec = load_claims(Path("suites/paper-claims.yaml"))
    ids = {c.id for c in spec.claims}
    for needed in ("distances", "clean-cost", "fgsm", "pgd", "l1", "smoothing", "hierarchy"):
        assert needed in ids
    assert "authors-settings" in ids


@pytest.mark.parametrize(
    "change, needle",
    [
        (("evidence: robustness", "evidence: vibes"), "unknown kind of evidence 'vibes'"),
        (("suites: [tiny.yaml]", "suites: [nope.yaml]"), "no suite file nope.yaml"),
        (("id: distances", "id: fgsm"), "two claims are both 'fgsm'"),
        # typed parameters (issue 50): a misspelt key, a wrong type, an unknown norm
        (
            ("params: {below: 10}", "params: {belwo: 10}"),
            r"claim distances: params.belwo: Extra inputs are not permitted "
            r"\(isometry takes: below\)",
        ),
        (("params: {below: 10}", "params: {below: ten}"), "claim distances: params.below: "),
        (
            ("params: {authors: [fgsm-paper]}", "params: {norm: 3}"),
            "claim fgsm: params.norm: .*unknown norm",
        ),
    ],
)
def test_a_bad_claims_file_is_one_line(
    change: tuple[str, str], needle: str, tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    base, _ = tiny
    bad = base / f"bad-{abs(hash(change))}.yaml"
    bad.write_text(CLAIMS.replace(*change, 1))
    with pytest.raises(ConfigError, match=needle) as exc:
        load_claims(bad)
    assert "\n" not in str(exc.value)


def test_a_claim_several_suites_answer_holds_in_part_where_they_disagree() -> None:
    """Weakest verdict across suites, except that a claim holding in one suite and failing
    in another holds in part (the row names each suite's finding): "does not hold" would hide
    a significant rise on one data set."""
    from lilbench.reports.claims import (
        AUTHORS_ONLY,
        FAILS,
        HOLDS,
        IN_PART,
        combined_verdict,
    )

    assert combined_verdict([HOLDS, HOLDS]) == HOLDS
    assert combined_verdict([FAILS, FAILS]) == FAILS
    assert combined_verdict([FAILS, HOLDS]) == IN_PART
    assert combined_verdict([HOLDS, AUTHORS_ONLY]) == IN_PART
    assert combined_verdict([AUTHORS_ONLY, AUTHORS_ONLY]) == AUTHORS_ONLY
    assert combined_verdict([AUTHORS_ONLY, FAILS]) == FAILS
    assert combined_verdict([IN_PART, HOLDS]) == IN_PART
