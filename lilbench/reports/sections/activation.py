"""Tanh against ReLU (suites whose settings differ in their activation)."""

from __future__ import annotations

from lilbench.reports.activation import activations, baseline_table, within_table
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("activation")
class Activation(Section):
    order = 118  # after the geometry panel, whose records it reads

    def applies(self, ctx: ReportContext) -> bool:
        return len(activations(ctx.results)) > 1

    def render(self, ctx: ReportContext) -> list[str]:
        out = [
            "## Tanh against ReLU",
            "",
            "Related work (Alleman, Lindsey & Fusi, ICLR 2024) finds that tanh networks learn "
            "representations that follow the targets while ReLU networks keep more of the raw "
            "inputs' structure. Here, at beta 0 (plain cross-entropy), each activation against "
            "tanh, paired by seed (Student's t over seeds):",
            "",
        ]
        base = baseline_table(ctx.results, ctx.data_dir, ctx.runs_dir)
        if base is not None:
            ctx.tables["activation-beta0"] = base
            out += [md_table(base), ""]
        within = within_table(ctx.results, ctx.data_dir, ctx.runs_dir)
        if within is not None:
            ctx.tables["activation-within"] = within
            out += [
                "Does LIL act the same way under both? Each setting minus the plain "
                "cross-entropy model of its own activation and seed: robust accuracy under the "
                "worst case of all attacks (hierarchical bootstrap over seeds and test images; "
                "* significant after Holm's correction over these robust cells), and the "
                "geometry (t over seeds):",
                "",
                md_table(within),
                "",
            ]
        return out
