"""`lilbench report`: markdown report with the paper's Table 1, robust-accuracy tables, AUC,
sanity checks, and Figure-3-style plots (matplotlib, PNG beside the report)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display here or in CI
import matplotlib.pyplot as plt

from lilbench.data import load_dataset
from lilbench.diagnostics import diagnose
from lilbench.io import atomic_path, write_bytes_atomic
from lilbench.reports.inspect_plots import distance_figure, embedding_figure
from lilbench.reports.summary import curve, normalised_auc
from lilbench.results.records import versions
from lilbench.results.suite_results import ModelResult
from lilbench.suites import Suite
from lilbench.training.checkpoint import load_model

Table = tuple[list[str], list[list[str]]]


def md_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def clean_table(results: list[ModelResult]) -> Table:
    header = ["beta", "seed", "clean test accuracy", "isometry error (test)"]
    levels = max(
        (len(r.checkpoint.metrics.get("level_accuracy", [])) for r in results if r.checkpoint),
        default=0,
    )
    for i in range(levels):
        header += [f"level {i} accuracy", f"level {i} isometry error"]
    rows = []
    for r in results:
        m = r.checkpoint.metrics if r.checkpoint else {}
        row = [
            f"{r.beta:g}",
            str(r.seed),
            f"{m['clean_test_accuracy']:.4f}" if m else "missing",
            f"{m['test_isometry_error']:.3f}" if m else "missing",
        ]
        acc, iso = m.get("level_accuracy", []), m.get("level_isometry_error", [])
        for i in range(levels):
            row += [
                f"{acc[i]:.4f}" if i < len(acc) else "-",
                f"{iso[i]:.3f}" if i < len(iso) else "-",
            ]
        rows.append(row)
    return header, rows


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
    header = ["beta", "seed", *[label for _, label in INSPECT_KEYS], "2-D map"]
    rows, images = [], []
    for r in results:
        if r.checkpoint is None:
            continue
        cfg = r.checkpoint.config
        data = load_dataset(cfg.dataset, data_dir=data_dir, seed=cfg.seed)
        model = load_model(r.checkpoint.path, input_dim=data.input_dim)
        diag = diagnose(model, data.x_test, data.y_test, seed=r.seed)
        stem = f"{suite.name}-beta{r.beta:g}-seed{r.seed}"
        title = f"beta={r.beta:g}, seed {r.seed}"
        distance_figure(diag, out_dir / f"{stem}-distances.png", title)
        embedding_figure(diag, out_dir / f"{stem}-embedding.png", title)
        rows.append(
            [
                f"{r.beta:g}",
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


def attack_table(results: list[ModelResult], attack: str) -> Table | None:
    recs = [r.attacks.get(attack) for r in results]
    first = next((rec for rec in recs if rec is not None), None)
    if first is None:
        return None
    xs, _ = curve(first)
    label = "eps" if first["sweep"] == "eps" else "step"
    header = ["beta", "seed", "clean", *[f"{label}={x:.3g}" for x in xs], "AUC"]
    rows = []
    for r, rec in zip(results, recs, strict=True):
        if rec is None:
            rows.append([f"{r.beta:g}", str(r.seed), *["missing"] * (len(xs) + 2)])
            continue
        cx, cy = curve(rec)
        rows.append(
            [
                f"{r.beta:g}",
                str(r.seed),
                f"{rec['clean']['accuracy']:.4f}",
                *[f"{v:.4f}" for v in cy],
                f"{normalised_auc(cx, cy):.4f}",
            ]
        )
    return header, rows


def checks_table(results: list[ModelResult]) -> Table:
    rows = []
    for r in results:
        for name, rec in r.attacks.items():
            if rec is None:
                continue
            failed = [c["name"] for c in rec["checks"] if not c["passed"]]
            verdict = "all pass" if not failed else "**FAIL**: " + "; ".join(failed)
            rows.append([f"{r.beta:g}", str(r.seed), name, str(len(rec["checks"])), verdict])
    return ["beta", "seed", "attack", "checks", "outcome"], rows


def plot(results: list[ModelResult], attacks: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, len(attacks), figsize=(5.5 * len(attacks), 4), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=True):
        sweep = "eps"
        for r in results:
            rec = r.attacks.get(attack)
            if rec is None:
                continue
            sweep = rec["sweep"]
            xs, ys = curve(rec)
            ax.plot(xs, ys, marker="o", ms=3, label=f"beta={r.beta:g} (seed {r.seed})")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("eps" if sweep == "eps" else "step size (eps = ball)")
        ax.set_ylabel("robust accuracy")
        ax.set_title(attack.upper())
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
) -> tuple[Path, dict[str, Table]]:
    attacks = [spec.label for spec in suite.attacks]
    plot_name = f"{suite.name}-curves.png"
    if attacks:
        plot(results, attacks, out_dir / plot_name)
    tables: dict[str, Table] = {"clean": clean_table(results)}
    for a in attacks:
        t = attack_table(results, a)
        if t is not None:
            tables[a] = t
    tables["checks"] = checks_table(results)
    v = versions()
    lines = [
        f"# lilbench report: {suite.name}",
        "",
        suite.description.strip(),
        "",
        f"- suite file: `{suite.path}` (SHA-256 `{suite.file_sha256[:16]}`)",
        f"- betas: {', '.join(f'{b:g}' for b in suite.betas)}; seeds: "
        f"{', '.join(map(str, suite.seeds))}; test images: {suite.test_limit or 'all'}",
        f"- lilbench {v['lilbench']}, torch {v['torch']}, ART {v['art']}, numpy {v['numpy']}, "
        f"Python {v['python']}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        f"- compute time of the cached items (training + attacks): {wall_time(results):.0f} s",
        "",
    ]
    if missing:
        lines += ["**Missing results** (run `lilbench run` first): " + ", ".join(missing), ""]
    lines += ["## Clean accuracy vs beta (the paper's Table 1)", "", md_table(tables["clean"]), ""]
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
        lines += [
            title,
            "",
            "AUC: area under accuracy vs log10 of the swept parameter, normalised to [0, 1].",
            "",
            md_table(tables[spec.label]),
            "",
        ]
    if attacks:
        lines += [f"![accuracy curves]({plot_name})", ""]
        lines += ["## Sanity checks", "", md_table(tables["checks"]), ""]
    else:
        del tables["checks"]
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
    path = out_dir / f"{suite.name}.md"
    write_bytes_atomic(path, "\n".join(lines).encode())
    return path, tables
