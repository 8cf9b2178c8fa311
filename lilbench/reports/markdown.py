"""`lilbench report`: markdown report with the paper's Table 1, robust-accuracy tables, AUC,
sanity checks, and Figure-3-style plots (matplotlib, PNG beside the report)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display here or in CI
import matplotlib.pyplot as plt

from lilbench.io import atomic_path, write_bytes_atomic
from lilbench.reports.summary import curve, normalised_auc
from lilbench.results.records import versions
from lilbench.results.suite_results import ModelResult
from lilbench.suites import Suite

Table = tuple[list[str], list[list[str]]]


def md_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def clean_table(results: list[ModelResult]) -> Table:
    rows = []
    for r in results:
        m = r.checkpoint.metrics if r.checkpoint else None
        rows.append(
            [
                f"{r.beta:g}",
                str(r.seed),
                "missing" if m is None else f"{m['clean_test_accuracy']:.4f}",
                "missing" if m is None else f"{m['test_isometry_error']:.3f}",
            ]
        )
    return ["beta", "seed", "clean test accuracy", "isometry error (test)"], rows


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
    suite: Suite, results: list[ModelResult], missing: list[str], out_dir: Path
) -> tuple[Path, dict[str, Table]]:
    attacks = [spec.name for spec in suite.attacks]
    plot_name = f"{suite.name}-curves.png"
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
    for spec in suite.attacks:
        if spec.name not in tables:
            continue
        p = spec.params()
        desc = ", ".join(
            f"{k}={v}"
            for k, v in p.items()
            if k not in ("name", "batch_size") and not isinstance(v, list)
        )
        lines += [
            f"## Robust accuracy under {spec.name.upper()} ({desc})",
            "",
            "AUC: area under accuracy vs log10 of the swept parameter, normalised to [0, 1].",
            "",
            md_table(tables[spec.name]),
            "",
        ]
    lines += [
        f"![accuracy curves]({plot_name})",
        "",
        "## Sanity checks",
        "",
        md_table(tables["checks"]),
        "",
    ]
    path = out_dir / f"{suite.name}.md"
    write_bytes_atomic(path, "\n".join(lines).encode())
    return path, tables
