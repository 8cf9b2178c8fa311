"""The body of `lilbench check`: a suite's metrics against a baseline, as typed values that
the command line renders and the Python API can use (no printing here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lilbench.errors import ConfigError
from lilbench.io import write_bytes_atomic
from lilbench.regression import ci_output, provenance
from lilbench.regression.baseline import (
    Row,
    changes,
    compare,
    load_baseline,
    metric_values,
    write_baseline,
)
from lilbench.results.suite_results import ModelResult, setting_name

UPDATE_NOTE = (
    "Written by `lilbench check --update`. Training and attacks are seeded and "
    "deterministic on one machine, so the tolerance only absorbs float differences "
    "between machines (BLAS builds, thread counts)."
)


@dataclass(frozen=True)
class CheckOutcome:
    suite: str
    baseline: Path
    rows: list[Row]
    check_failures: list[ci_output.CheckFailure]
    notice: str | None  # what differs between the baseline's machine and software and now's
    provenance_then: Any
    provenance_now: dict[str, Any]
    strict: bool  # a failed sanity check fails the check too

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failed and not (self.strict and self.check_failures)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "notice": self.notice,
            "provenance": {"baseline": self.provenance_then, "now": self.provenance_now},
            "failed_checks": [
                {"where": f.where, "checks": list(f.names)} for f in self.check_failures
            ],
            "rows": [
                {
                    "metric": r.metric,
                    "baseline": r.baseline,
                    "now": r.now,
                    "delta": r.delta,
                    "tolerance": r.tolerance,
                    "passed": r.passed,
                }
                for r in self.rows
            ],
        }

    def markdown(self) -> str:
        return ci_output.summary_markdown(
            self.suite,
            self.baseline,
            self.rows,
            self.check_failures,
            notice=self.notice,
            strict=self.strict,
        )


def failed_checks(results: list[ModelResult]) -> list[ci_output.CheckFailure]:
    """Every attack record whose sanity checks did not all pass, with the failed checks."""
    return [
        ci_output.CheckFailure(
            f"{setting_name(r.setting)}/seed={r.seed}/{label}",
            tuple(c.name for c in rec.checks if not c.passed),
        )
        for r in results
        for label, rec in r.attacks.items()
        if rec is not None and not rec.passed
    ]


def compare_with_baseline(
    suite: str,
    baseline: Path,
    base: dict[str, Any],
    results: list[ModelResult],
    prov: dict[str, Any],
    *,
    strict: bool,
) -> CheckOutcome:
    """The results' metrics against a loaded baseline `base`, metric by metric."""
    return CheckOutcome(
        suite=suite,
        baseline=baseline,
        rows=compare(base, metric_values(results), path=baseline),
        check_failures=failed_checks(results),
        notice=provenance.notice(base.get("provenance"), prov),
        provenance_then=base.get("provenance"),
        provenance_now=prov,
        strict=strict,
    )


def write_outputs(outcome: CheckOutcome, *, junit_xml: Path | None, summary: Path | None) -> None:
    """JUnit XML and the Markdown summary where asked; the summary is also appended to
    $GITHUB_STEP_SUMMARY when that is set (GitHub's file, which is appended to)."""
    if junit_xml is not None:
        ci_output.write_junit(
            junit_xml, outcome.suite, outcome.rows, outcome.check_failures, strict=outcome.strict
        )
    markdown = outcome.markdown()
    if summary is not None:
        write_bytes_atomic(summary, markdown.encode())
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")


def update_baseline(
    baseline: Path,
    suite: str,
    results: list[ModelResult],
    prov: dict[str, Any],
    *,
    tolerance: float,
) -> tuple[list[str], int]:
    """Write the baseline from now; returns the lines that say what changed (values, and
    the provenance where an earlier baseline was there) and the number of metrics."""
    now = metric_values(results)
    old = None
    if baseline.is_file():
        try:
            old = load_baseline(baseline)
        except ConfigError:
            old = None
    said = list(changes(old, now))
    if old is not None:
        said += [
            f"provenance {key}: {before} -> {after}"
            for key, before, after in provenance.differences(old.get("provenance"), prov)
        ]
    write_baseline(baseline, suite, now, tolerance=tolerance, note=UPDATE_NOTE, provenance=prov)
    return said, len(now)
