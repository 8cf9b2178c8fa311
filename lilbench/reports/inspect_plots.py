"""PNG figures for `lilbench inspect`: distance distributions (Fig. 2B) and a 2-D map (2A/4B)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lilbench.diagnostics import Diagnostics
from lilbench.io import atomic_path


def save_figure(fig: plt.Figure, path: Path, dpi: int = 100) -> None:
    """Written to a temporary file and renamed: never a half-written PNG."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def distance_figure(diag: Diagnostics, path: Path, title: str) -> None:
    classes = sorted(diag.distances)
    cols = min(5, len(classes))
    rows = math.ceil(len(classes) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(classes) :]:
        ax.axis("off")
    for ax, c in zip(axes.flat, classes, strict=False):
        d_x, d_p = diag.distances[c]
        hi = float(max(d_x.max(), d_p.max())) if len(d_x) else 1.0
        bins = [hi * i / 40 for i in range(41)]
        ax.hist(d_x.numpy(), bins=bins, alpha=0.5, label="input", color="tab:gray")
        ax.hist(d_p.numpy(), bins=bins, alpha=0.5, label="representation", color="tab:blue")
        ax.set_title(f"class {c}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title}: within-class pairwise distances", fontsize=10)
    save_figure(fig, path)


def embedding_figure(diag: Diagnostics, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    pts = diag.embedding.numpy()
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=diag.labels.numpy(), cmap="tab10", s=4)
    ax.set_title(f"{title}: {diag.summary['embedding']} of the representation", fontsize=9)
    fig.colorbar(sc, ax=ax, label="class")
    save_figure(fig, path)
