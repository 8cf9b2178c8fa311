"""Random noise and common corruptions: the abstract's "general perturbations"."""

from __future__ import annotations

from lilbench.data.corruptions import CORRUPTION_SETS
from lilbench.reports.aggregate import key_header
from lilbench.reports.noise import (
    changes_table,
    corruption_figure,
    corruption_table,
    noise_tables,
)
from lilbench.reports.noise_baseline import (
    head_to_head,
    head_to_head_sentence,
    head_to_head_table,
    noise_pareto,
)
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.comparisons import BOOTSTRAP_RESAMPLES
from lilbench.results.stats import floor_note


def _name(setting: str, ctx: ReportContext) -> str:
    """`beta=1` for a beta sweep's setting, the method's name otherwise."""
    return f"beta={setting}" if key_header(ctx.results) == "beta" else setting


@SECTIONS.register("noise")
class Noise(Section):
    order = 65  # after the certified bracket, before the Pareto front and the verdict

    def applies(self, ctx: ReportContext) -> bool:
        return ctx.suite.perturbs and any(r.perturbed is not None for r in ctx.results)

    def render(self, ctx: ReportContext) -> list[str]:
        suite = ctx.suite
        out = [
            "## Random noise and common corruptions",
            "",
            "The paper's abstract contrasts robustness to specific (adversarial) perturbations "
            "with robustness to general ones. Here the perturbations are random: no attack "
            "searches for them. An image under noise has two scores over the draws: the share "
            "of draws it is classified correctly under (its mean is the expected accuracy "
            "under the noise) and whether it is correct under every draw. Intervals: the "
            "hierarchical bootstrap over seeds and test images.",
            "",
        ]
        if suite.noise is not None and (tables := noise_tables(ctx.results)) is not None:
            mean, every = tables
            ctx.tables["noise"], ctx.tables["noise-every-draw"] = mean, every
            out += [
                f"### Noise ({suite.noise.draws} seeded draws per image, clipped to [0, 1])",
                "",
                "Gaussian: N(0, sigma^2) per pixel; uniform L-inf and L2: uniform in the ball "
                "of that radius. Expected accuracy (the mean over draws):",
                "",
                md_table(mean),
                "",
                "Correct under every draw:",
                "",
                md_table(every),
                "",
            ]
        if suite.corruptions is not None and (table := corruption_table(ctx.results)):
            ctx.tables["corruptions"] = table
            sev = suite.corruptions.severity
            cset = CORRUPTION_SETS.get(suite.corruptions.set_name)
            out += [
                f"### Common corruptions ({cset.label}'s {len(suite.corruptions.names)}, "
                f"severity {sev:g})",
                "",
                f"{cset.provenance}; each image corrupted once, seeded by the model's seed and "
                "the image's index. One test image under each corruption:",
                "",
                f"![corruptions]({ctx.suite.name}-corruptions.png)",
                "",
                md_table(table),
                "",
            ]
            self._figure(ctx, list(suite.corruptions.names), sev, cset.name)
        found = ctx.noise_changes
        if found:
            ctx.tables["noise-changes"] = changes_table(found)
            out += [
                "### Change from plain cross-entropy",
                "",
                "Accuracy minus the reference's on the same images, in percentage points, paired "
                "by seed (noise: the expected accuracy; corruptions: the mean over all of "
                f"them); 95% bootstrap intervals; * significant after Holm's correction over "
                f"these {len(found)} comparisons (a family of its own, apart from the "
                "attacks' verdict)." + floor_note(len(found), BOOTSTRAP_RESAMPLES),
                "",
                md_table(changes_table(found)),
                "",
            ]
            significant = [c for c in found if c.significant and c.perturbation != "clean"]
            if significant:
                out.append(
                    "Significant: "
                    + "; ".join(
                        f"{_name(c.setting, ctx)} under {c.perturbation}: {c.boot.fmt(1, 100)} pp"
                        for c in significant
                    )
                    + "."
                )
            else:
                out.append("No setting's change under noise or corruptions is significant.")
            out.append("")
        out += self._baseline(ctx)
        failed = [
            f"{r.label} seed {r.seed}: {f}"
            for r in ctx.results
            if r.perturbed is not None
            for f in r.perturbed.failed_checks()
        ]
        models = sum(r.perturbed is not None for r in ctx.results)
        out += [
            f"Checks: {len(failed)} failed ({'; '.join(failed)})."
            if failed
            else f"Checks: every noise and corruption check passed on all {models} models "
            "(noise 0 gives the clean predictions; inputs in [0, 1] and inside their ball; "
            "accuracy does not rise with the noise level beyond sampling noise; corruptions "
            "deterministic and the identity at severity 0).",
            "",
        ]
        return out

    @staticmethod
    def _baseline(ctx: ReportContext) -> list[str]:
        """LIL against Gaussian augmentation, where the suite trains both."""
        found = head_to_head(ctx.results)
        if not found:
            return []
        name = f"{ctx.suite.name}-noise-pareto.png"
        levels = noise_pareto(ctx.results, ctx.out_dir / name)
        table = ctx.tables["noise-baseline"] = head_to_head_table(found)
        figure = (
            [
                "Clean accuracy against expected accuracy under Gaussian noise, one point per "
                "setting (mean over seeds, 95% t-intervals); the dashed line joins the settings "
                "no other beats on both:",
                "",
                f"![clean vs Gaussian noise]({name})",
                "",
            ]
            if levels
            else []
        )
        return [
            "### LIL against the defence built for noise (Gaussian augmentation)",
            "",
            "Per perturbation, the LIL setting (beta > 0) most accurate under it against the "
            "Gaussian-augmentation setting most accurate under it among those with no lower "
            "clean accuracy (else the nearest in clean accuracy, marked so); clean accuracy on "
            "the same images in brackets. The difference is paired by seed and image; 95% "
            f"bootstrap intervals, {BOOTSTRAP_RESAMPLES:,} resamples; * significant after Holm "
            f"over these {len(found)} comparisons.",
            "",
            md_table(table),
            "",
            "More accurate: " + head_to_head_sentence(found) + ".",
            "",
            *figure,
        ]

    @staticmethod
    def _figure(ctx: ReportContext, names: list[str], severity: float, set_name: str) -> None:
        from lilbench.data import load_dataset

        data = load_dataset(ctx.suite.dataset, data_dir=ctx.data_dir)
        x = data.x_test[0].numpy()
        corruption_figure(
            x,
            names,
            severity,
            ctx.suite.seeds[0],
            ctx.out_dir / f"{ctx.suite.name}-corruptions.png",
            data.image_shape,
            set_name,
        )
