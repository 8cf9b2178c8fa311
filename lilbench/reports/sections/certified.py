"""Certified lower bounds beside the attacks' upper bounds."""

from __future__ import annotations

from lilbench.reports.aggregate import certified_table
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("certified")
class Certified(Section):
    order = 60

    def render(self, ctx: ReportContext) -> list[str]:
        certified = certified_table(ctx.results)
        if certified is None:
            return []
        ctx.tables["certified"] = certified
        spec = ctx.suite.certify
        methods = ", ".join(spec.methods) if spec is not None else ""
        return [
            "## Certified lower bounds beside the attacks' upper bounds",
            "",
            "True robust accuracy lies between the two figures of each cell: on the left the "
            f"share of test images proven robust by a sound certificate ({methods}; an image "
            "counts when any of them proves it), on the right the share that no attack broke "
            "at this eps or any smaller one (per image; the clean accuracy where no attack ran "
            "that small). "
            "Means over seeds. The last column counts images proven robust that an attack "
            "nevertheless broke: anything but 0 means a bound or an attack is wrong.",
            "",
            md_table(certified),
            "",
        ]
