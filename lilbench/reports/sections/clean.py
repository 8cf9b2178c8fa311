"""Clean accuracy per setting (the paper's Table 1), with the float32 cast of float64 models
and the per-level figures of stacked models."""

from __future__ import annotations

from lilbench.reports.aggregate import FLOAT32_DIFFS, clean_table
from lilbench.reports.render import INTERVALS, md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("clean")
class Clean(Section):
    order = 20

    def render(self, ctx: ReportContext) -> list[str]:
        ctx.tables["clean"] = table = clean_table(ctx.results)
        title = (
            "## Clean accuracy per method"
            if ctx.suite.has_methods
            else "## Clean accuracy vs beta (the paper's Table 1)"
        )
        lines = [title, "", INTERVALS, "", md_table(table), ""]
        metrics = [r.checkpoint.metrics for r in ctx.results if r.checkpoint]
        if any(FLOAT32_DIFFS in m for m in metrics):
            lines += [
                "The models compute in float64 (the authors' code); ART and every attack and "
                "certificate here compute in float32, so each model is attacked as its float32 "
                "cast. The clean accuracy (float64, all test images) sits beside the cast's, "
                "with the number of test images on which the two predict differently: where "
                "that number is 0 or a few, the cast is the same classifier on the test set.",
                "",
            ]
        if any("level_accuracy" in m for m in metrics):
            lines += [
                "Levels go coarse to fine; a level's isometry error compares the distances of "
                "its block's input and output within that level's classes.",
                "",
            ]
        return lines
