"""Per-image robustness curves and minimal perturbations from every eps-grid attack."""

from __future__ import annotations

from lilbench.reports.curves import robustness_section
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("robustness")
class Robustness(Section):
    order = 100

    def applies(self, ctx: ReportContext) -> bool:
        # the curves and minimal perturbations are L-inf's (an eps of another norm is
        # another ball): without an L-inf eps sweep there is nothing to draw
        return any(s.threat.is_default and s.sweep == "eps" for s in ctx.suite.attacks)

    def render(self, ctx: ReportContext) -> list[str]:
        found = robustness_section(
            ctx.results, ctx.out_dir, ctx.suite.name, ctx.data_dir, ctx.runs_dir
        )
        if found is None:
            return []
        ctx.tables["robustness"], image = found
        return [
            "## Robustness curves and minimal perturbations",
            "",
            "Per test image, the smallest eps at which any attack run on it broke it (0 if the "
            "model misclassifies it unperturbed): an upper bound on its true minimal L-inf "
            "perturbation at the resolution of the eps grids. The curve is the share of "
            "images still correct under every attack up to eps (all seeds pooled); the median "
            "minimal eps has a hierarchical bootstrap interval over seeds and images (1,000 "
            "resamples, seed 0); '> grid' means more than half the images were never broken.",
            "",
            f"![robustness curves]({image})",
            "",
            md_table(ctx.tables["robustness"]),
            "",
        ]
