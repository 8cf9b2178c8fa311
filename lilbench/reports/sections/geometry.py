"""The representation's geometry as the field measures it, against accuracy."""

from __future__ import annotations

from lilbench.measures.geometry import ATTACK_TEXT, IMAGES
from lilbench.reports.geometry_panel import geometry_section
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("geometry")
class Geometry(Section):
    order = 115  # after the mechanism

    def applies(self, ctx: ReportContext) -> bool:
        return ctx.suite.geometry

    def render(self, ctx: ReportContext) -> list[str]:
        table, corr, sentences = geometry_section(ctx.results, ctx.data_dir, ctx.runs_dir)
        ctx.tables["geometry"] = table
        out = [
            "## Geometry of the representation: neural collapse, CKA, effective rank",
            "",
            f"On the first {IMAGES} test images, phi the last hidden layer: NC1 = "
            "tr(Sigma_W Sigma_B^+) / C (within-class variability against the spread of the "
            "class means; 0: each class collapsed to a point); NC2, the class means' equinorm "
            "(std / mean of their norms about the mean of the means) and equiangularity (mean "
            "|cos + 1/(C-1)|; 0: a simplex); NC4, the share of images whose prediction is not "
            "the nearest class mean (means of the same images); linear CKA between the inputs "
            f"and phi, and between phi of the clean images and of their {ATTACK_TEXT} "
            "adversarial examples; the effective rank of phi (exp of the entropy of its "
            "normalised singular values). Means over seeds with t intervals.",
            "",
            md_table(table),
            "",
        ]
        if corr is not None:
            ctx.tables["geometry-correlations"] = corr
            out += [
                "Rank correlation with accuracy across all the suite's models (Spearman; * "
                "significant after Holm's correction over the table's rows):",
                "",
                md_table(corr),
                "",
            ]
        out += [*sentences, ""] if sentences else []
        return out
