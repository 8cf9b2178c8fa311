"""`lilbench report`: a markdown report built from the registered sections
(`lilbench/reports/sections/`), with its figures (PNG) beside it."""

from __future__ import annotations

from pathlib import Path

from lilbench.io import write_bytes_atomic
from lilbench.reports.render import Table
from lilbench.reports.sections import ReportContext
from lilbench.reports.sections.base import ordered
from lilbench.results.suite_results import ModelResult
from lilbench.suites import Suite

__all__ = ["Table", "build_report"]


def build_report(
    suite: Suite,
    results: list[ModelResult],
    missing: list[str],
    out_dir: Path,
    data_dir: Path | None = None,
    runs_dir: Path | None = None,
) -> tuple[Path, dict[str, Table]]:
    """The report of a suite's results: every section that applies, in order; returns its
    path and the tables it shows (for export)."""
    ctx = ReportContext(suite, results, missing, out_dir, data_dir, runs_dir)
    lines = [line for section in ordered() if section.applies(ctx) for line in section.render(ctx)]
    path = out_dir / f"{suite.name}.md"
    write_bytes_atomic(path, "\n".join(lines).encode())
    return path, ctx.tables
