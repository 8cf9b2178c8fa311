"""PNG figures for `lilbench inspect`: distance distributions (Fig. 2B) and a 2-D map (2A/4B)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lilbench.io import atomic_path


def save_figure(fig: plt.Figure, path: Path, dpi: int = 100) -> None:
    """Written to a temporary file and renamed: never a half-written PNG."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def distance_figure(values: dict[str, Any], path: Path, title: str) -> None:
    """Per class, the within-class distances' histograms (input and phi) from the record."""
    hists = values["histograms"]
    cols = min(5, len(hists))
    rows = math.ceil(len(hists) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(hists) :]:
        ax.axis("off")
    for ax, h in zip(axes.flat, hists, strict=False):
        n = len(h["input"])
        bins = [h["hi"] * i / n for i in range(n + 1)]
        # each bin's count as the weight of its left edge: the bars of the distances themselves
        ax.hist(
            bins[:-1], bins=bins, weights=h["input"], alpha=0.5, label="input", color="tab:gray"
        )
        ax.hist(
            bins[:-1],
            bins=bins,
            weights=h["phi"],
            alpha=0.5,
            label="representation",
            color="tab:blue",
        )
        ax.set_title(f"class {h['class']}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title}: within-class pairwise distances", fontsize=10)
    save_figure(fig, path)


def embedding_figure(values: dict[str, Any], path: Path, title: str) -> None:
    emb = values["embedding"]
    pts = np.frombuffer(bytes.fromhex(emb["xy"]), dtype=np.float32).reshape(-1, 2)
    labels = np.frombuffer(bytes.fromhex(emb["labels"]), dtype=np.int64)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=labels, cmap="tab10", s=4)
    method = values["summary"]["embedding"]
    ax.set_title(f"{title}: {method} of the representation", fontsize=9)
    fig.colorbar(sc, ax=ax, label="class")
    save_figure(fig, path)
