"""`inspect`'s work as a function: one checkpoint's representation diagnostics on the test
split, their figures and JSON (and, when asked, its topology per class). The command line
renders what this returns; the Python API can call it the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lilbench.data import load_dataset
from lilbench.diagnostics import diagnose
from lilbench.io import write_json_atomic
from lilbench.reports.inspect_plots import distance_figure, embedding_figure
from lilbench.training.checkpoint import load_model, read_checkpoint


@dataclass(frozen=True)
class Inspection:
    checkpoint: Path
    name: str  # "mnist: lil beta=1"
    summary: dict[str, Any]  # what inspect.json holds
    classes: list[dict[str, Any]]  # topology per class (empty unless asked)
    folder: Path  # where the figures and the JSON are


def inspect_checkpoint(
    checkpoint: Path,
    *,
    out_dir: Path | None = None,
    data_dir: Path | None = None,
    max_points: int = 2000,
    seed: int = 0,
    with_topology: bool = False,
) -> Inspection:
    ckpt = read_checkpoint(checkpoint)
    config = ckpt.config
    data = load_dataset(config.dataset, data_dir=data_dir, seed=config.seed)
    model = load_model(ckpt.path, input_dim=data.input_dim)
    diag = diagnose(model, data.x_test, data.y_test, max_points=max_points, seed=seed)
    target = out_dir or ckpt.path / "inspect"
    name = f"{config.dataset}: {config.label()}"
    distance_figure(diag, target / "distances.png", name)
    embedding_figure(diag, target / "embedding.png", name)
    summary = {
        "checkpoint": str(ckpt.path),
        **diag.summary,
        "figures": [str(target / "distances.png"), str(target / "embedding.png")],
    }
    classes = []
    if with_topology:
        from lilbench.results.topology_records import model_topology  # ripser, persim

        found = model_topology(model, data, seed=seed)
        classes = [
            {k: v for k, v in c.to_dict().items() if not k.startswith("diagrams")} for c in found
        ]
        summary["topology"] = classes
    write_json_atomic(target / "inspect.json", summary)
    return Inspection(ckpt.path, name, summary, classes, target)
