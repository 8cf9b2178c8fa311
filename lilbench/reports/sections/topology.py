"""Persistent homology of each class, inputs vs phi (records cached in results/)."""

from __future__ import annotations

from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("topology")
class Topology(Section):
    order = 130

    def applies(self, ctx: ReportContext) -> bool:
        return ctx.suite.topology

    def render(self, ctx: ReportContext) -> list[str]:
        from lilbench.reports.topology_section import topology_section  # ripser, persim

        if ctx.runs_dir is None:
            raise ValueError("a suite with topology: true needs the runs directory")
        table, said = topology_section(
            ctx.suite.name,
            ctx.results,
            ctx.runs_dir,
            ctx.out_dir,
            ctx.data_dir,
            ctx.suite.topology_points,
        )
        ctx.tables["topology"] = table
        return [
            "## Topology: persistent homology of each class, inputs vs phi",
            "",
            *said,
            md_table(table),
            "",
        ]
