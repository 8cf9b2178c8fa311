"""Attack optimality per attack and model, and the hardest images."""

from __future__ import annotations

from lilbench.reports.optimality import norms_of, optimality_table, work_table
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.per_image import clean_masks, hardest_images
from lilbench.threats import threat

HARDEST = 5
OPTIMALITY = (
    "Local optimality (AttackBench, Cina et al. 2024) of each eps-grid attack on each model: "
    "the area under the curve of the share of images still robust to every attack of the norm "
    "up to eps (the per-image best, apgd-search included), over the area under the attack's "
    "own robust-accuracy curve, both over the attack's own eps grid. 1 means the attack finds "
    "everything the others find at its eps; the lowest row is the evaluation's weakest link. "
    "Mean over seeds per setting. Robust means correct unperturbed and at the attack's "
    "returned point. `lilbench export SUITE --per-image` gives every image's results."
)


@SECTIONS.register("optimality")
class Optimality(Section):
    order = 105

    def applies(self, ctx: ReportContext) -> bool:
        return bool(ctx.attacks)

    def render(self, ctx: ReportContext) -> list[str]:
        clean = clean_masks(ctx.results, ctx.data_dir, ctx.runs_dir)
        blocks: list[str] = []
        for norm in norms_of(ctx.results):
            found = optimality_table(ctx.results, clean, norm, ctx.attacks)
            if found is None:
                continue
            table, sentence = found
            name = threat(norm).label
            ctx.tables[f"optimality-{norm}"] = table
            hardest = hardest_images(ctx.results, clean, norm, HARDEST)
            listed = ", ".join(f"#{i} ({eps:.3g})" for i, eps, _ in hardest)
            blocks += [f"### Optimality in {name}", "", sentence, "", md_table(table), ""]
            if hardest:
                blocks += [
                    f"Hardest images in {name} (smallest median minimal eps over the "
                    f"{hardest[0][2]} models, among those every model classifies correctly "
                    f"unperturbed; test index and median): {listed}.",
                    "",
                ]
        if blocks:
            blocks = [OPTIMALITY, "", *blocks]
        work = work_table(ctx.results, ctx.attacks)
        if work is not None:
            ctx.tables["work"] = work
            blocks += [
                "### Work per attack",
                "",
                "Seconds per model and the model's forward and backward passes per image, "
                "each summed over the attack's eps grid and averaged over the models "
                "(AutoAttack's members below it, in the order run, on the images still "
                "robust; a gradient computed for k rows counts k backward passes; work "
                "shared by a grid's points, such as FGSM's one gradient or apgd-search's "
                "bisection, is counted once). The checks of each run (accuracy recomputed "
                "on the model's own pass, the eps = 0 and unconstrained probes, the "
                "indicators of failure) are counted apart, in the last two columns: their "
                "seconds are not in the attack's, and unstable predictions, which depend on "
                "the model and images only, count in the first record of a model that "
                "computed them.",
                "",
                md_table(work),
                "",
            ]
        if not blocks:
            return []
        return ["## Attack optimality and work", "", *blocks]
