"""The standard attacks beside the authors' copies of them (solid vs dashed)."""

from __future__ import annotations

from lilbench.reports.render import plot
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("standard-vs-paper")
class StandardVsPaper(Section):
    order = 40

    def applies(self, ctx: ReportContext) -> bool:
        return bool(ctx.paired)

    def render(self, ctx: ReportContext) -> list[str]:
        name = f"{ctx.suite.name}-standard-vs-paper.png"
        plot(ctx.results, ctx.paired, ctx.out_dir / name)
        return [
            "## Standard vs paper-faithful attacks",
            "",
            "Solid: the standard attack (cross-entropy at the true labels); dashed: the "
            "authors' attack (objective CE + beta * L_iso per batch of 100; their PGD steps "
            "along the clean-input gradient, so it is a scaled FGSM).",
            "",
            f"![standard vs paper-faithful]({name})",
            "",
        ]
