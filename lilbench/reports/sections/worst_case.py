"""Robust accuracy per example under every attack run at an eps or below."""

from __future__ import annotations

from lilbench.reports.aggregate import worst_case_attacks, worst_case_table
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("worst-case")
class WorstCase(Section):
    order = 50

    def render(self, ctx: ReportContext) -> list[str]:
        worst = worst_case_table(ctx.results)
        if worst is None:
            return []
        ctx.tables["worst-case"] = worst
        columns = "; ".join(
            f"eps={e:.3g}: {', '.join(a)}" for e, a in worst_case_attacks(ctx.results).items()
        )
        return [
            "## Worst case over all attacks (per example)",
            "",
            "Robust accuracy counting an image as robust only if every attack run at that eps "
            "or below failed on it (an example inside a smaller ball lies inside this one, so "
            "the figure never rises with eps); columns at the eps where two or more attacks "
            "ran, not counting the paper-faithful variants. Intervals: the hierarchical "
            "bootstrap over seeds and test images.",
            "",
            md_table(worst),
            "",
            f"Attacks per column: {columns}.",
            "",
        ]
