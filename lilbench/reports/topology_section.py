"""The topology section of a report: per setting and class, the Betti numbers of the inputs
and of phi, the most persistent loop's lifetime in each, and the bottleneck distance between
the two diagrams (over seeds); and, for data sets that are not images, a figure of the
persistence diagrams."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lilbench import topology
from lilbench.io import atomic_path
from lilbench.reports.aggregate import Table, by_setting, key_header
from lilbench.results.suite_results import ModelResult
from lilbench.results.topology_records import datasets_of, ensure_topology
from lilbench.schemas import TopologyRecord

Record = TopologyRecord


def topology_records(
    results: list[ModelResult], runs_dir: Path, data_dir: Path | None, max_points: int
) -> list[tuple[ModelResult, Record, bool]]:
    """(result, its topology record, whether its data are images) per trained model."""
    # The weights are loaded only where a record is computed (ensure_topology).
    trained = [r for r in results if r.checkpoint is not None and not r.checkpoint.external]
    data_of = datasets_of([r.checkpoint for r in trained if r.checkpoint], data_dir)
    out = []
    for r in trained:
        assert r.checkpoint is not None
        data = data_of[(r.checkpoint.config.dataset, r.checkpoint.config.seed)]
        rec = ensure_topology(runs_dir, r.checkpoint, data, seed=r.seed, max_points=max_points)
        assert rec is not None  # computed when missing
        out.append((r, rec, data.image_shape is not None and len(data.image_shape) == 3))
    return out


def _betti(values: list[list[int]]) -> str:
    """The most common (H0, H1) pair over seeds, with how many seeds give it."""
    common, count = Counter(tuple(v) for v in values).most_common(1)[0]
    shown = ", ".join(map(str, common))
    return f"({shown})" + (f" {count}/{len(values)}" if len(values) > 1 else "")


def _range(values: list[float]) -> str:
    """Mean and the range over seeds (3 seeds: a t interval of a distance runs below 0)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    return f"{mean:.3f} [{min(values):.3f}, {max(values):.3f}]"


def topology_table(found: list[tuple[ModelResult, Record, bool]]) -> Table:
    results = [r for r, _, _ in found]
    levels = max((c["level"] for _, rec, _ in found for c in rec.classes), default=0)
    header = [key_header(results)]
    header += ["level"] if levels > 0 else []
    header += [
        "class",
        "points",
        "Betti (H0, H1) input",
        "Betti (H0, H1) phi",
        "H1 lifetime input",
        "H1 lifetime phi",
        "bottleneck H1",
    ]
    rows = []
    for label, group in by_setting(results):
        recs = [rec for r, rec, _ in found if any(r is g for g in group)]
        keys = sorted({(c["level"], c["label"]) for rec in recs for c in rec.classes})
        for level, cls in keys:
            cs = [
                c for rec in recs for c in rec.classes if (c["level"], c["label"]) == (level, cls)
            ]
            row = [label] + ([str(level)] if levels > 0 else [])
            row += [
                str(cls),
                "-".join(dict.fromkeys(str(f(c["points"] for c in cs)) for f in (min, max))),
                _betti([c["betti_input"] for c in cs]),
                _betti([c["betti_phi"] for c in cs]),
                _range([c["h1_input"] for c in cs]),
                _range([c["h1_phi"] for c in cs]),
                _range([c["bottleneck_h1"] for c in cs]),
            ]
            rows.append(row)
    return header, rows


def diagram_figure(found: list[tuple[ModelResult, Record, bool]], path: Path) -> None:
    """H0 and H1 diagrams of each class, inputs (crosses) against phi (dots), for the first
    seed of each setting: one row per setting and level, one panel per class."""
    firsts: list[tuple[str, Record]] = []
    results = [r for r, _, _ in found]
    prefix = "beta " if key_header(results) == "beta" else ""
    for label, group in by_setting(results):
        r0 = min(group, key=lambda r: r.seed)
        rec0 = next(rec for r, rec, _ in found if r is r0)
        firsts.append((f"{prefix}{label}, seed {r0.seed}", rec0))
    panels = []
    for name, rec in firsts:
        for level in sorted({c["level"] for c in rec.classes}):
            panels.append((name, level, [c for c in rec.classes if c["level"] == level]))
    cols = max(len(p[2]) for p in panels)
    fig, axes = plt.subplots(
        len(panels), cols, figsize=(2.6 * cols, 2.6 * len(panels)), squeeze=False
    )
    for row, (name, level, classes) in enumerate(panels):
        for col in range(cols):
            ax = axes[row][col]
            if col >= len(classes):
                ax.axis("off")
                continue
            c = classes[col]
            top = 0.0
            for key, marker, colour, what in (
                ("diagrams_input", "x", "tab:grey", "input"),
                ("diagrams_phi", "o", "tab:green", "phi"),
            ):
                for dim, dgm in enumerate(c[key]):
                    pts = [(b, d) for b, d in dgm if d is not None]
                    if not pts:
                        continue
                    xs, ys = zip(*pts, strict=True)
                    top = max(top, *ys)
                    ax.scatter(
                        xs,
                        ys,
                        s=10 if marker == "o" else 14,
                        marker=marker,
                        facecolors="none" if marker == "o" and dim == 0 else None,
                        color=colour if dim == 1 else "tab:blue" if what == "phi" else "black",
                        label=f"H{dim} {what}",
                        alpha=0.8,
                    )
            ax.plot([0, top], [0, top], lw=0.5, color="black")
            ax.plot([0, top], [topology.THRESHOLD, top + topology.THRESHOLD], ":", lw=0.5)
            level_text = f", level {level}" if len({p[1] for p in panels}) > 1 else ""
            ax.set_title(f"{name}{level_text}, class {c['label']}", fontsize=7)
            ax.set_xlabel("birth", fontsize=7)
            ax.set_ylabel("death", fontsize=7)
            ax.tick_params(labelsize=6)
            if row == 0 and col == 0:
                ax.legend(fontsize=5, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def topology_section(
    suite_name: str,
    results: list[ModelResult],
    runs_dir: Path,
    out_dir: Path,
    data_dir: Path | None,
    max_points: int = topology.MAX_POINTS,
) -> tuple[Table, list[str]]:
    found = topology_records(results, runs_dir, data_dir, max_points)
    table = topology_table(found)
    images = any(is_image for _, _, is_image in found)
    seconds = sum(float(rec.seconds) for _, rec, _ in found)
    points = max_points
    lines = [
        "Persistent homology (Vietoris-Rips, ripser) of each class's test points in input "
        "space and in phi, each point cloud divided by its mean pairwise distance so the two "
        f"compare. Classes larger than {points} points are subsampled to {points} (the model's "
        "seed). Betti numbers count the features that persist longer than "
        f"{topology.THRESHOLD:g} in those units (the most common pair over seeds, with how "
        "many seeds give it); H1 lifetime: the most persistent loop's; bottleneck: the "
        "bottleneck distance (persim) between the input's and phi's H1 diagrams. "
        "Lifetimes and distances: mean and [smallest, largest] over seeds; points: the "
        "class's test points (its count varies with each seed's split). H2 and the H0 "
        "bottleneck distance are not computed (too slow here: 41 s for H2 of 400 points in "
        "3-D, 72 s for one H0 matching of 200 images). Compute time of the cached records: "
        f"{seconds:.0f} s.",
        "",
    ]
    if images:
        lines += [
            "For image classes these figures are descriptive: nothing says what the topology "
            "of a class of handwritten digits is, so they show whether phi keeps what the "
            "inputs have, not whether either is right.",
            "",
        ]
    else:
        name = f"{suite_name}-topology.png"
        diagram_figure(found, out_dir / name)
        lines += [f"![persistence diagrams]({name})", ""]
    return table, lines
