"""`lilbench report`: markdown report with the paper's Table 1, robust-accuracy tables, AUC,
sanity checks, and Figure-3-style plots (matplotlib, PNG beside the report)."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display here or in CI
import matplotlib.pyplot as plt

from lilbench.attacks.base import standard_label
from lilbench.diagnostics import diagnose
from lilbench.io import atomic_path, write_bytes_atomic
from lilbench.reports.aggregate import (
    FLOAT32_DIFFS,
    attack_table,
    by_setting,
    certified_table,
    checks_table,
    clean_table,
    failed_model_check_details,
    key_header,
    model_checks_table,
    verdict,
    worst_case_attacks,
    worst_case_table,
)
from lilbench.reports.curves import robustness_section
from lilbench.reports.inspect_plots import distance_figure, embedding_figure
from lilbench.reports.mechanism import loaded_models, mechanism_section
from lilbench.reports.pareto import PARETO_EPS, pareto_plot, pareto_verdict
from lilbench.reports.summary import curve
from lilbench.results.records import versions
from lilbench.results.suite_results import ModelResult, setting_name
from lilbench.suites import Suite

Table = tuple[list[str], list[list[str]]]


INTERVALS = (
    "Intervals are 95% and stay inside [0, 1] for accuracies: where each seed's per-image "
    "correctness is recorded (every attack table, the worst case), a hierarchical bootstrap "
    "that resamples seeds and test images (1,000 resamples, seed 0); for the clean accuracy "
    "of the whole test set, Student's t over seeds on the logit scale; isometry errors and "
    "AUCs: Student's t over seeds. A single seed shows its value alone."
)


def computed_on(results: list[ModelResult]) -> str:
    """Which devices trained the models and ran the attacks, from what the records say."""
    trained: dict[str, int] = {}
    attacked: dict[str, int] = {}
    for r in results:
        if r.checkpoint is not None:
            name = str(r.checkpoint.meta.get("device", "unknown"))
            trained[name] = trained.get(name, 0) + 1
        for rec in r.completed_attacks().values():
            name = str(rec.get("device", "unknown"))
            attacked[name] = attacked.get(name, 0) + 1

    def fmt(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v})" for k, v in sorted(counts.items())) or "none"

    return f"training {fmt(trained)}; attacks {fmt(attacked)}"


def _slug(text: str) -> str:
    """A setting's name as part of a file name: "beta=1" -> "beta1", "pgd-at eps=0.1" ->
    "pgd-at-eps0.1" (the `betas:` shorthand keeps the names of earlier reports)."""
    return text.replace("=", "").replace(" ", "-").replace("+", "-")


def md_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


INSPECT_KEYS = (
    ("isometry_error_within_class", "isometry error (same class)"),
    ("isometry_error_all_pairs", "isometry error (all pairs)"),
    ("input_grad_norm_mean", "mean input-gradient norm"),
    ("lipschitz_sampled_pairs", "Lipschitz (sampled pairs)"),
    ("jacobian_spectral_norm_max", "max Jacobian spectral norm"),
)


def inspect_section(
    suite: Suite, results: list[ModelResult], out_dir: Path, data_dir: Path | None
) -> tuple[Table, list[str]]:
    """Diagnostics of every trained model (deterministic and quick; recomputed per report)."""
    header = [key_header(results), "seed", *[label for _, label in INSPECT_KEYS], "2-D map"]
    rows, images = [], []
    for r, model, data in loaded_models(results, data_dir, trained_only=True):
        diag = diagnose(model, data.x_test, data.y_test, seed=r.seed)
        stem = f"{suite.name}-{_slug(setting_name(r.setting))}-seed{r.seed}"
        title = f"{setting_name(r.setting)}, seed {r.seed}"
        distance_figure(diag, out_dir / f"{stem}-distances.png", title)
        embedding_figure(diag, out_dir / f"{stem}-embedding.png", title)
        rows.append(
            [
                r.label,
                str(r.seed),
                *[f"{diag.summary[k]:.4g}" for k, _ in INSPECT_KEYS],
                str(diag.summary["embedding"]),
            ]
        )
        images += [
            f"![distances {title}]({stem}-distances.png)",
            f"![map {title}]({stem}-embedding.png)",
        ]
    return (header, rows), images


def _mean_curve(group: list[ModelResult], attack: str) -> tuple[list[float], list[float]] | None:
    curves = [curve(rec) for r in group if (rec := r.attacks.get(attack)) is not None]
    if not curves:
        return None
    xs = curves[0][0]
    return xs, [sum(c[1][i] for c in curves) / len(curves) for i in range(len(xs))]


def plot(results: list[ModelResult], panels: Sequence[tuple[str, str | None]], path: Path) -> None:
    """One panel per attack, one line per beta (mean over seeds); a second attack in a panel
    is drawn dashed in the same colour (standard vs paper-faithful)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (attack, dashed) in zip(axes[0], panels, strict=True):
        sweep = "eps"
        for i, (_, group) in enumerate(by_setting(results)):
            colour = colours[i % len(colours)]
            seeds = len(group)
            for label, style in ((attack, "-"), (dashed, "--")):
                if label is None:
                    continue
                got = _mean_curve(group, label)
                if got is None:
                    continue
                rec = next(r.attacks[label] for r in group if r.attacks.get(label))
                sweep = rec["sweep"] if rec else sweep
                name = setting_name(group[0].setting) + (f" (mean of {seeds})" if seeds > 1 else "")
                ax.plot(
                    *got,
                    style,
                    marker="o",
                    ms=3,
                    color=colour,
                    label=name if style == "-" else None,
                )
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("eps" if sweep == "eps" else "step size (eps = ball)")
        ax.set_ylabel("robust accuracy")
        title = attack.upper() + (f" (solid) vs {dashed.upper()} (dashed)" if dashed else "")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def wall_time(results: list[ModelResult]) -> float:
    total = 0.0
    for r in results:
        if r.checkpoint:
            total += float(r.checkpoint.metrics.get("train_seconds", 0.0))
        total += sum(float(rec["timings"]["total_seconds"]) for rec in r.attacks.values() if rec)
    return total


def build_report(
    suite: Suite,
    results: list[ModelResult],
    missing: list[str],
    out_dir: Path,
    data_dir: Path | None = None,
    runs_dir: Path | None = None,
) -> tuple[Path, dict[str, Table]]:
    attacks = [spec.label for spec in suite.attacks]
    standard = [a for a in attacks if not a.endswith("-paper")]
    plot_name = f"{suite.name}-curves.png"
    if standard:
        plot(results, [(a, None) for a in standard], out_dir / plot_name)
    paired = [
        (a[: -len("-paper")], a)
        for a in attacks
        if a.endswith("-paper") and a[: -len("-paper")] in attacks
    ]
    paper_plot = f"{suite.name}-standard-vs-paper.png"
    if paired:
        plot(results, paired, out_dir / paper_plot)
    tables: dict[str, Table] = {"clean": clean_table(results)}
    for a in attacks:
        t = attack_table(results, a)
        if t is not None:
            tables[a] = t
    v = versions()
    lines = [
        f"# lilbench report: {suite.name}",
        "",
        suite.description.strip(),
        "",
        f"- suite file: `{suite.path}` (SHA-256 `{suite.file_sha256[:16]}`)",
        f"- {'methods' if suite.has_methods else 'betas'}: "
        f"{', '.join(s.label for s in suite.settings)}; seeds: "
        f"{', '.join(map(str, suite.seeds))}; test images: {suite.test_limit or 'all'}",
        f"- lilbench {v['lilbench']}, torch {v['torch']}, ART {v['art']}, numpy {v['numpy']}, "
        f"Python {v['python']}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        f"- compute time of the cached items (training + attacks): {wall_time(results):.0f} s",
        f"- computed on: {computed_on(results)}",
        "",
    ]
    if missing:
        lines += ["**Missing results** (run `lilbench run` first): " + ", ".join(missing), ""]
    verdict_parts = (
        verdict(results)
        if attacks and any(r.setting.reference for r in results) and len(suite.settings) > 1
        else None
    )
    answer = next((s for s in (verdict_parts or ([],))[0] if s.startswith("**Answer")), None)
    if answer is not None:
        lines += [answer, ""]
    title = (
        "## Clean accuracy per method"
        if suite.has_methods
        else "## Clean accuracy vs beta (the paper's Table 1)"
    )
    lines += [title, "", INTERVALS, "", md_table(tables["clean"]), ""]
    if any(r.checkpoint and FLOAT32_DIFFS in r.checkpoint.metrics for r in results):
        lines += [
            "The models compute in float64 (the authors' code); ART and every attack and "
            "certificate here compute in float32, so each model is attacked as its float32 "
            "cast. The clean accuracy (float64, all test images) sits beside the cast's, with "
            "the number of test images on which the two predict differently: where that "
            "number is 0 or a few, the cast is the same classifier on the test set.",
            "",
        ]
    if any(r.checkpoint and "level_accuracy" in r.checkpoint.metrics for r in results):
        lines += [
            "Levels go coarse to fine; a level's isometry error compares the distances of its "
            "block's input and output within that level's classes.",
            "",
        ]
    for spec in suite.attacks:
        if spec.label not in tables:
            continue
        p = spec.params()
        desc = ", ".join(
            f"{k}={v}"
            for k, v in p.items()
            if k not in ("name", "batch_size") and not isinstance(v, list)
        )
        title = f"## Robust accuracy under {spec.label.upper()}" + (f" ({desc})" if desc else "")
        members = getattr(spec, "members", None)
        lines += [
            title,
            "",
            *([f"Members, in order: {', '.join(members)}.", ""] if members else []),
            "AUC: area under accuracy vs log10 of the swept parameter, normalised to [0, 1] "
            "(interval: Student's t over seeds). Accuracies: the hierarchical bootstrap "
            "interval over seeds and test images.",
            "",
            md_table(tables[spec.label]),
            "",
        ]
    if standard:
        lines += [f"![accuracy curves]({plot_name})", ""]
    if paired:
        lines += [
            "## Standard vs paper-faithful attacks",
            "",
            "Solid: the standard attack (cross-entropy at the true labels); dashed: the "
            "authors' attack (objective CE + beta * L_iso per batch of 100; their PGD steps "
            "along the clean-input gradient, so it is a scaled FGSM).",
            "",
            f"![standard vs paper-faithful]({paper_plot})",
            "",
        ]
    worst = worst_case_table(results)
    if worst is not None:
        tables["worst-case"] = worst
        lines += [
            "## Worst case over all attacks (per example)",
            "",
            "Robust accuracy counting an image as robust only if every attack run at that eps "
            "or below failed on it (an example inside a smaller ball lies inside this one, so "
            "the figure never rises with eps); columns at the eps where two or more attacks "
            "ran, not counting the paper-faithful variants. Intervals: the hierarchical "
            "bootstrap over seeds and test images.",
            "",
            md_table(worst),
            "",
            "Attacks per column: "
            + "; ".join(
                f"eps={e:.3g}: {', '.join(a)}" for e, a in worst_case_attacks(results).items()
            )
            + ".",
            "",
        ]
    certified = certified_table(results)
    if certified is not None:
        tables["certified"] = certified
        methods = ", ".join(suite.certify.methods) if suite.certify is not None else ""
        lines += [
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
    strong_std = standard_label(suite.attacks)
    if suite.has_methods and strong_std is not None and strong_std in attacks:
        pareto_name = f"{suite.name}-pareto.png"
        pareto_plot(results, out_dir / pareto_name, strong_std)
        lines += [
            "## Clean vs robust accuracy: the Pareto frontier",
            "",
            "One point per method setting: clean accuracy and AutoAttack accuracy on the same "
            "test images, mean over seeds with 95% intervals (Student's t) as error bars; the "
            "dashed line joins the settings that no other setting beats on both.",
            "",
            f"![Pareto plots]({pareto_name})",
            "",
            *[s for eps in PARETO_EPS for s in (*pareto_verdict(results, eps, strong_std), "")],
        ]
    if verdict_parts is not None:
        sentences, compact, changes, halving = verdict_parts
        tables["verdict"], tables["verdict-details"], tables["halving"] = compact, changes, halving
        reference = "plain cross-entropy (lil beta=0)" if suite.has_methods else "beta = 0"
        lines += [
            "## Verdict: does robust accuracy rise with beta?"
            if not suite.has_methods
            else "## Verdict: change from plain cross-entropy training",
            "",
            f"Changes from {reference} in percentage points, positive when the setting is "
            "higher (for clean accuracy too: a loss is negative). Robust changes: estimate "
            "and 95% interval of a paired hierarchical bootstrap (2,000 resamples, seed 0) "
            "that resamples seeds and, shared across them and across settings, test images, "
            "so both the training seed and the finite test sample enter; eps sweeps are "
            "compared at their grid point nearest to eps = 0.1, step-size sweeps at their "
            "strongest step. * marks changes significant after Holm's correction over every "
            "comparison in the details table (family-wise error 5%, two-sided bootstrap "
            "p-values). Clean changes: Student's t over seeds (no per-image clean bits).",
            "",
            md_table(compact),
            "",
            *[f"- {s}" for s in sentences if s.startswith("**") and not s.startswith("**Answer")],
            "",
            "Details (the interval over seeds alone, Student's t, shown for comparison; it "
            "ignores the sampling error of the test images):",
            "",
            md_table(changes),
            "",
            "The eps at which robust accuracy falls to half the clean accuracy (interpolated "
            "in log eps; mean and 95% interval over seeds):",
            "",
            md_table(halving),
            "",
        ]
    if attacks:
        tables["checks"] = checks_table(results)
        lines += ["## Sanity checks", "", "Per attack run:", "", md_table(tables["checks"]), ""]
        model_table = model_checks_table(results)
        if model_table is not None:
            tables["model-checks"] = model_table
            lines += [
                "Per model (all ten checks of a trustworthy evaluation):",
                "",
                md_table(model_table),
                "",
                *failed_model_check_details(results),
                "",
            ]
    robustness = robustness_section(results, out_dir, suite.name, data_dir) if attacks else None
    if robustness is not None:
        tables["robustness"], image = robustness
        lines += [
            "## Robustness curves and minimal perturbations",
            "",
            "Per test image, the smallest eps at which any attack run on it broke it (0 if the "
            "model misclassifies it unperturbed): an upper bound on its true minimal L-inf "
            "perturbation at the resolution of the eps grids. The curve is the share of "
            "images still correct under every attack up to eps (all seeds pooled); the median "
            "minimal eps has a hierarchical bootstrap interval over seeds and images (1,000 "
            "resamples, seed 0); '> grid' means more than half the images were never broken.",
            "",
            f"![robustness curves]({image})",
            "",
            md_table(tables["robustness"]),
            "",
        ]
    if suite.mechanism:
        table, said = mechanism_section(results, data_dir)
        tables["mechanism"] = table
        lines += [
            "## The mechanism: does beta bound gradients and Lipschitz constants?",
            "",
            "The paper argues that isometry bounds the Lipschitz constant and so the input "
            "gradients. Per setting (mean and 95% t-interval over seeds, 1,000 test images "
            "chosen by seed 0): the mean input-gradient norm of the cross-entropy, the largest "
            "||phi(x) - phi(x')|| / ||x - x'|| over sampled pairs at 1% of the typical input "
            "distance, the mean spectral norm of phi's Jacobian (100 images), and the product "
            "of the linear layers' spectral norms (a global L2 bound of the whole network).",
            "",
            md_table(table),
            "",
            *said,
            "",
        ]
    if suite.inspect:
        table, images = inspect_section(suite, results, out_dir, data_dir)
        tables["diagnostics"] = table
        lines += [
            "## Representation diagnostics (test split)",
            "",
            "Isometry error: mean |D_phi - D_x| / mean D_x over pairs of test points (x the "
            "input, phi the last representation). Lipschitz (sampled pairs): the largest "
            "||phi(x) - phi(x')|| / ||x - x'|| for x' at 1% of the typical input distance. "
            "Histograms: within-class pairwise distances, input vs representation (the "
            "paper's Figure 2B); maps: the representation in 2-D (Figures 2A and 4B).",
            "",
            md_table(table),
            "",
            *images,
            "",
        ]
    if suite.topology:
        from lilbench.reports.topology_section import topology_section

        if runs_dir is None:
            raise ValueError("a suite with topology: true needs the runs directory")
        table, said = topology_section(
            suite.name, results, runs_dir, out_dir, data_dir, suite.topology_points
        )
        tables["topology"] = table
        lines += [
            "## Topology: persistent homology of each class, inputs vs phi",
            "",
            *said,
            md_table(table),
            "",
        ]
    path = out_dir / f"{suite.name}.md"
    write_bytes_atomic(path, "\n".join(lines).encode())
    return path, tables
