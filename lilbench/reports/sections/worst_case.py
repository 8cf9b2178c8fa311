"""Robust accuracy per example under every attack run at an eps or below, per norm."""

from __future__ import annotations

from lilbench.reports.aggregate import eps_name, worst_case_attacks, worst_case_table
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.threats import THREATS, ThreatModel

MNIST_PIXELS = 784  # the cube the prose's "whole cube of an MNIST image" measures


def _norms() -> list[tuple[str, str, str, str]]:
    """(norm, table key, title, what the paragraph adds), L-inf first."""
    out = []
    for t in sorted((t for _, t in THREATS.items()), key=lambda t: t.order):
        if t.is_default:
            out.append((t.key, "worst-case", "## Worst case over all attacks (per example)", ""))
            continue
        out.append((t.key, f"worst-case{t.suffix}", _title(t), _ball(t)))
    return out


def _title(t: ThreatModel) -> str:
    return f"## Worst case over all {t.label} attacks (per example)"


def _ball(t: ThreatModel) -> str:
    return (
        f" The {t.label} attacks' own worst case (an {t.label} eps is another ball than an "
        f"L-inf one; {t.label} radius {t.full_radius(MNIST_PIXELS):g} covers the whole cube "
        "of an MNIST image)."
    )


@SECTIONS.register("worst-case")
class WorstCase(Section):
    order = 50

    def render(self, ctx: ReportContext) -> list[str]:
        out: list[str] = []
        for norm, key, title, ball in _norms():
            worst = worst_case_table(ctx.results, norm)
            if worst is None:
                continue
            ctx.tables[key] = worst
            name = eps_name(norm)
            columns = "; ".join(
                f"{name}={e:.3g}: {', '.join(a)}"
                for e, a in worst_case_attacks(ctx.results, norm).items()
            )
            out += [
                title,
                "",
                "Robust accuracy counting an image as robust only if every attack run at that "
                "eps or below failed on it (an example inside a smaller ball lies inside this "
                "one, so the figure never rises with eps); columns at the eps where two or "
                "more attacks ran, not counting the paper-faithful variants. Intervals: the "
                "hierarchical bootstrap over seeds and test images." + ball,
                "",
                md_table(worst),
                "",
                f"Attacks per column: {columns}.",
                "",
            ]
        return out
