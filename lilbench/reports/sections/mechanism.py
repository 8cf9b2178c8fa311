"""The paper's mechanism, measured: input gradients and Lipschitz constants against beta."""

from __future__ import annotations

from lilbench.reports.mechanism import mechanism_section
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("mechanism")
class Mechanism(Section):
    order = 110

    def applies(self, ctx: ReportContext) -> bool:
        return ctx.suite.mechanism

    def render(self, ctx: ReportContext) -> list[str]:
        table, said = mechanism_section(ctx.results, ctx.data_dir, ctx.runs_dir)
        ctx.tables["mechanism"] = table
        return [
            "## The mechanism: does beta bound gradients and Lipschitz constants?",
            "",
            "The paper argues that isometry bounds the Lipschitz constant and so the input "
            "gradients. Per setting (mean and 95% t-interval over seeds, 1,000 test images "
            "chosen by seed 0): the mean input-gradient norm of the cross-entropy, the largest "
            "||phi(x) - phi(x')|| / ||x - x'|| over sampled pairs at 1% of the typical input "
            "distance, the mean spectral norm of phi's Jacobian (100 images), and the product "
            "of the linear layers' spectral norms (a global L2 bound of the whole network).",
            "",
            md_table(table),
            "",
            *said,
            "",
        ]
