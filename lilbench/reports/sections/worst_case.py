"""Robust accuracy per example under every attack run at an eps or below, per norm."""

from __future__ import annotations

from lilbench.reports.aggregate import worst_case_attacks, worst_case_table
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("worst-case")
class WorstCase(Section):
    order = 50

    def render(self, ctx: ReportContext) -> list[str]:
        out: list[str] = []
        for norm, key, title, ball in (
            ("inf", "worst-case", "## Worst case over all attacks (per example)", ""),
            (
                "2",
                "worst-case-l2",
                "## Worst case over all L2 attacks (per example)",
                " The L2 attacks' own worst case (an L2 eps is another ball than an L-inf "
                "one; L2 radius 28 covers the whole cube of an MNIST image).",
            ),
        ):
            worst = worst_case_table(ctx.results, norm)
            if worst is None:
                continue
            ctx.tables[key] = worst
            name = "eps" if norm == "inf" else f"L{norm} eps"
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
