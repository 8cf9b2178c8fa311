"""Certified lower bounds beside the attacks' upper bounds."""

from __future__ import annotations

import math

from lilbench.reports.aggregate import certificate_methods_table, certified_table
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.certificates import earlier_relaxation
from lilbench.threats import threat


@SECTIONS.register("certified")
class Certified(Section):
    order = 60

    def render(self, ctx: ReportContext) -> list[str]:
        out: list[str] = []
        for spec in ctx.suite.certifies:
            certified = certified_table(ctx.results, spec.norm)
            if certified is None:
                continue
            t = threat(spec.norm)
            ctx.tables[f"certified{t.suffix}"] = certified
            methods = ", ".join(spec.methods)
            per = certificate_methods_table(ctx.results, spec.norm)
            assert per is not None  # certified_table found certificates of this norm
            ctx.tables[f"certificates{t.suffix}"] = per
            models = sum(r.certificate_of(spec.norm) is not None for r in ctx.results)
            per_lines = [
                f"Images proven robust by each certificate, summed over the {models} models "
                "(in brackets: the images it adds to those the certificates above it prove; "
                "loosest first):",
                "",
                md_table(per),
                "",
                *_earlier_lines(ctx, spec.norm, models),
            ]
            if not t.is_default:
                dual = "2" if t.dual_p == 2 else "inf" if math.isinf(t.dual_p) else f"{t.dual_p:g}"
                out += [
                    f"## Certified lower bounds in {t.label}",
                    "",
                    f"The same bracket over {t.label} balls, paired with the {t.label} attacks: "
                    f"certificates ({methods}) over the intersection of the {t.label} ball and "
                    "the [0, 1] box: each bound is the tighter of two sound ones, over the ball "
                    f"alone (the dual norm: a . x0 - eps ||a||_{dual}) and over the box hull of "
                    "ball and cube (clamp(x0 -+ eps, 0, 1)); the right figure counts the "
                    f"{t.label} attacks only. Means over seeds; the last column must be 0.",
                    "",
                    md_table(certified),
                    "",
                    *per_lines,
                ]
                continue
            out += [
                "## Certified lower bounds beside the attacks' upper bounds",
                "",
                "True robust accuracy lies between the two figures of each cell: on the left "
                f"the share of test images proven robust by a sound certificate ({methods}; "
                "an image counts when any of them proves it), on the right the share that no "
                "attack broke at this eps or any smaller one (per image; the clean accuracy "
                "where no attack ran that small). "
                "Means over seeds. The last column counts images proven robust that an attack "
                "nevertheless broke: anything but 0 means a bound or an attack is wrong.",
                "",
                md_table(certified),
                "",
                *per_lines,
            ]
        return out


def _earlier_lines(ctx: ReportContext, norm: str, models: int) -> list[str]:
    """Say so where CROWN-family bounds were computed with lilbench's earlier tanh lines:
    sound, but looser than `crown` draws them now."""
    earlier: dict[str, int] = {}
    for r in ctx.results:
        record = r.certificate_of(norm)
        how = earlier_relaxation(record) if record is not None else None
        if how is not None:
            earlier[how] = earlier.get(how, 0) + 1
    if not earlier:
        return []
    which = "; ".join(f"{how} ({n} of {models} models)" for how, n in sorted(earlier.items()))
    return [
        "CROWN-family bounds here were computed with lilbench's earlier tanh lines for "
        f"intervals that cross zero: {which}. They are sound but looser than the lines "
        "`crown` draws now (the published implementation's: the tangent at the midpoint "
        "where it is sound). `lilbench certify --force` recomputes one model's; a suite "
        "recomputes them once their records under `certificates/` in the runs directory are "
        "removed.",
        "",
    ]
