"""What `lilbench check` hands a CI system: JUnit XML (one test case per compared metric, as
`pytest --junitxml` writes them, read by GitHub, GitLab and Jenkins alike) and a Markdown
summary (regressions first, then improvements beyond tolerance, then a count of the rest).

JUnit is written with junitparser, a small, well-kept library for the format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lilbench.io import atomic_path
from lilbench.regression.baseline import Row

Kind = Literal["regression", "improvement", "missing", "unchanged"]


def kind(row: Row) -> Kind:
    """A missing metric or a fall beyond tolerance is a regression; a rise beyond it an
    improvement (both fail the check: the baseline no longer describes the model)."""
    if row.passed:
        return "unchanged"
    if row.baseline is None or row.now is None:
        return "missing"
    delta = row.delta
    return "improvement" if delta is not None and delta > 0 else "regression"


@dataclass(frozen=True)
class CheckFailure:
    """A failed sanity check of one stored record (a failure under --strict)."""

    where: str  # setting/seed=N/attack
    names: tuple[str, ...]


def _split(metric: str) -> tuple[str, str]:
    """("beta=0/seed=0", "fgsm/eps=0.1") from "beta=0/seed=0/fgsm/eps=0.1"."""
    parts = metric.split("/")
    return "/".join(parts[:2]), "/".join(parts[2:]) or metric


def missing_side(row: Row) -> str | None:
    """Which side lacks the metric, in words; None when both have it."""
    if row.baseline is None:
        return f"not in the baseline (now {row.now:.4f}; add it with --update)"
    if row.now is None:
        return f"not computed now (baseline {row.baseline:.4f}; did the suite drop it?)"
    return None


def _message(row: Row) -> str:
    missing = missing_side(row)
    if missing is not None:
        return f"missing: {missing}"
    delta = "-" if row.delta is None else f"{row.delta:+.4f}"
    return (
        f"{kind(row)}: baseline {row.baseline:.4f}, now {row.now:.4f}, delta {delta}, "
        f"tolerance {row.tolerance:g}"
    )


def write_junit(
    path: Path,
    suite: str,
    rows: Sequence[Row],
    check_failures: Sequence[CheckFailure] = (),
    *,
    strict: bool = False,
) -> None:
    """One test case per metric (classname: suite/setting/seed, name: attack/point) with a
    failure carrying baseline, now, delta and tolerance; under `strict`, one failed case per
    record whose sanity checks failed."""
    from junitparser import Failure, JUnitXml, TestCase, TestSuite

    ts = TestSuite(f"lilbench check {suite}")
    for row in rows:
        where, what = _split(row.metric)
        case = TestCase(what, classname=f"{suite}/{where}", time=0)
        if not row.passed:
            case.result = [Failure(_message(row), type_=kind(row))]
            case.system_out = _message(row)
        ts.add_testcase(case)
    if strict:
        for failure in check_failures:
            case = TestCase(f"{failure.where.rsplit('/', 1)[-1]}/sanity checks", time=0)
            case.classname = f"{suite}/{failure.where.rsplit('/', 1)[0]}"
            case.result = [Failure("failed checks: " + "; ".join(failure.names), type_="check")]
            ts.add_testcase(case)
    ts.update_statistics()
    xml = JUnitXml("lilbench")
    xml.add_testsuite(ts)
    xml.update_statistics()
    with atomic_path(path) as tmp:
        xml.write(str(tmp), pretty=True)


def summary_markdown(
    suite: str,
    baseline: Path,
    rows: Sequence[Row],
    check_failures: Sequence[CheckFailure] = (),
    *,
    notice: str | None = None,
    strict: bool = False,
) -> str:
    fmt = lambda v: "missing" if v is None else f"{v:.4f}"  # noqa: E731
    kinds = ("regression", "improvement", "missing", "unchanged")
    by = {k: [r for r in rows if kind(r) == k] for k in kinds}
    failed = by["regression"] or by["improvement"] or by["missing"] or (strict and check_failures)
    lines = [
        f"## lilbench check: {suite} {'FAILED' if failed else 'passed'}",
        "",
        f"Against `{baseline}`: {len(by['regression'])} regression(s), "
        f"{len(by['improvement'])} improvement(s) beyond tolerance, "
        f"{len(by['missing'])} metric(s) missing on one side, {len(by['unchanged'])} "
        "metric(s) within tolerance.",
    ]
    if notice:
        lines += ["", f"> Note: {notice}"]
    for k, title in (
        ("regression", "Regressions"),
        ("improvement", "Improvements beyond tolerance"),
        ("missing", "Missing on one side"),
    ):
        if by[k]:
            lines += ["", f"### {title}", "", "| metric | baseline | now | delta | tolerance |"]
            lines.append("|---|---|---|---|---|")
            for r in by[k]:
                delta = "-" if r.delta is None else f"{r.delta:+.4f}"
                cells = (f"`{r.metric}`", fmt(r.baseline), fmt(r.now), delta, f"{r.tolerance:g}")
                lines.append("| " + " | ".join(cells) + " |")
    if check_failures:
        lines += [
            "",
            "### Failed sanity checks" + ("" if strict else " (not failing: no --strict)"),
        ]
        lines += [""] + [f"- `{f.where}`: {'; '.join(f.names)}" for f in check_failures]
    lines += ["", f"{len(by['unchanged'])} unchanged metric(s) not listed.", ""]
    return "\n".join(lines)
