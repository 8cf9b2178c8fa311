"""One table per attack (robust accuracy per grid point and its AUC), and the accuracy
curves of the standard attacks."""

from __future__ import annotations

from lilbench.reports.aggregate import attack_table
from lilbench.reports.render import md_table, plot
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section


@SECTIONS.register("attacks")
class Attacks(Section):
    order = 30

    def applies(self, ctx: ReportContext) -> bool:
        return bool(ctx.attacks)

    def render(self, ctx: ReportContext) -> list[str]:
        plot_name = f"{ctx.suite.name}-curves.png"
        if ctx.standard:
            plot(ctx.results, [(a, None) for a in ctx.standard], ctx.out_dir / plot_name)
        lines: list[str] = []
        # with L2 (or L1) entries in the suite, every table names its norm (L2: norm=2)
        both = any(not a.threat.is_default for a in ctx.suite.attacks)
        for spec in ctx.suite.attacks:
            table = attack_table(ctx.results, spec.label)
            if table is None:
                continue
            ctx.tables[spec.label] = table
            desc = ", ".join(
                f"{k}={v}"
                for k, v in spec.params().items()
                if k not in ("name", "batch_size") and not isinstance(v, list)
            )
            if both and spec.threat.is_default:
                desc = ", ".join(["norm=L-inf", *([desc] if desc else [])])
            title = f"## Robust accuracy under {spec.label.upper()}" + (
                f" ({desc})" if desc else ""
            )
            members = getattr(spec, "members", None)
            lines += [
                title,
                "",
                *([f"Members, in order: {', '.join(members)}.", ""] if members else []),
                "AUC: area under accuracy vs log10 of the swept parameter, normalised to [0, 1] "
                "(interval: Student's t over seeds). Accuracies: the hierarchical bootstrap "
                "interval over seeds and test images.",
                "",
                md_table(table),
                "",
            ]
        if ctx.standard:
            lines += [f"![accuracy curves]({plot_name})", ""]
        return lines
