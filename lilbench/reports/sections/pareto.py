"""Clean vs robust accuracy of a suite of methods under the standard evaluation: the Pareto
frontier."""

from __future__ import annotations

from lilbench.attacks.base import standard_label
from lilbench.reports.pareto import PARETO_EPS, pareto_plot, pareto_verdict
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("pareto")
class Pareto(Section):
    order = 70

    def applies(self, ctx: ReportContext) -> bool:
        label = standard_label(ctx.suite.attacks)
        return ctx.suite.has_methods and label is not None and label in ctx.attacks

    def render(self, ctx: ReportContext) -> list[str]:
        label = standard_label(ctx.suite.attacks)
        assert label is not None
        name = f"{ctx.suite.name}-pareto.png"
        pareto_plot(ctx.results, ctx.out_dir / name, label)
        return [
            "## Clean vs robust accuracy: the Pareto frontier",
            "",
            "One point per method setting: clean accuracy and AutoAttack accuracy on the same "
            "test images, mean over seeds with 95% intervals (Student's t) as error bars; the "
            "dashed line joins the settings that no other setting beats on both.",
            "",
            f"![Pareto plots]({name})",
            "",
            *[s for eps in PARETO_EPS for s in (*pareto_verdict(ctx.results, eps, label), "")],
        ]
