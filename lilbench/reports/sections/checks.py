"""Every sanity check: per attack run, and per model (the checks of a trustworthy
evaluation), with the details of each failure."""

from __future__ import annotations

from lilbench.reports.aggregate import checks_table, failed_model_check_details, model_checks_table
from lilbench.reports.indicators import indicators_table, unstable_sample
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("checks")
class Checks(Section):
    order = 90

    def applies(self, ctx: ReportContext) -> bool:
        return bool(ctx.attacks)

    def render(self, ctx: ReportContext) -> list[str]:
        ctx.tables["checks"] = table = checks_table(ctx.results)
        lines = ["## Sanity checks", "", "Per attack run:", "", md_table(table), ""]
        model_table = model_checks_table(ctx.results)
        if model_table is not None:
            ctx.tables["model-checks"] = model_table
            lines += [
                "Per model (all ten checks of a trustworthy evaluation):",
                "",
                md_table(model_table),
                "",
                *failed_model_check_details(ctx.results),
                "",
            ]
        found = indicators_table(ctx.results)
        if found is not None:
            ctx.tables["indicators"], sentences = found
            sample = unstable_sample(ctx.results)
            lines += [
                "Indicators of attack failure (Pintor et al. 2022), per model: the images "
                "each flags in any attack run (silent success, incomplete optimisation and "
                "unavailable gradients from the APGD iterates, on images the attack failed "
                "on; transfer failure between ART's predictions and the model's own pass; "
                "unstable predictions under 100 uniform draws of radius 1/255"
                f"{sample}; unconstrained "
                "failure: correct images left unbroken with the ball over the whole cube, "
                "first 256 images). What each means and what to do: docs/attacks.md.",
                "",
                md_table(ctx.tables["indicators"]),
                "",
                *sentences,
                "",
            ]
        return lines
