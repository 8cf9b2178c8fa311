"""One model's representation diagnostics (`lilbench inspect`, a suite's `inspect: true`) as a
record: `runs/diagnostics/<config hash>/inspect-<key>.json`, keyed by the weights, the data
set, the number of points, the seed and the histograms' bins. A suite computes it in the
worker beside the attacks; reports draw their figures from the record alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lilbench import store
from lilbench.diagnostics import HISTOGRAM_BINS, inspection_values
from lilbench.results.diagnostic_records import ensure_diagnostic, find_diagnostic
from lilbench.training.checkpoint import Checkpoint, read_checkpoint

if TYPE_CHECKING:
    from torch import nn

    from lilbench.data import Dataset

KIND = "inspect"
MAX_POINTS = 2000  # test points diagnosed (a seeded sample)


def _params(max_points: int, seed: int) -> dict[str, Any]:
    return {"max_points": max_points, "seed": seed, "bins": HISTOGRAM_BINS}


def ensure_inspection(
    ckpt: Checkpoint,
    *,
    runs_dir: Path | None,
    data_dir: Path | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> dict[str, Any]:
    """The record's values: reused when cached for these weights and settings, else computed
    (and stored when there is a runs directory)."""

    def compute(model: nn.Module, data: Dataset) -> dict[str, Any]:
        return inspection_values(model, data.x_test, data.y_test, max_points=max_points, seed=seed)

    return ensure_diagnostic(
        ckpt, KIND, _params(max_points, seed), compute, runs_dir=runs_dir, data_dir=data_dir
    )


def find_inspection(
    ckpt: Checkpoint,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> dict[str, Any] | None:
    """The record's values when cached (None computes nothing)."""
    return find_diagnostic(
        ckpt, KIND, _params(max_points, seed), runs_dir=runs_dir, data_dir=data_dir
    )


@dataclass(frozen=True)
class Inspection:
    checkpoint: Path
    name: str  # "mnist: lil beta=1"
    values: dict[str, Any]  # the record's values (summary, histograms, 2-D map)
    classes: list[dict[str, Any]]  # topology per class (empty unless asked)


def inspect_checkpoint(
    checkpoint: Path,
    *,
    data_dir: Path | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
    with_topology: bool = False,
) -> Inspection:
    """`inspect`'s values for one checkpoint: cached in its runs directory when it lies in
    one lilbench marked (runs/models/<hash>/), else computed without storing."""
    ckpt = read_checkpoint(checkpoint)
    home = ckpt.path.parent.parent
    runs = home if store.is_runs_dir(home) else None
    values = ensure_inspection(
        ckpt, runs_dir=runs, data_dir=data_dir, max_points=max_points, seed=seed
    )
    classes: list[dict[str, Any]] = []
    if with_topology:
        from lilbench.data import load_dataset
        from lilbench.results.topology_records import model_topology  # ripser, persim
        from lilbench.training.checkpoint import load_model

        config = ckpt.config
        data = load_dataset(config.dataset, data_dir=data_dir, seed=config.seed)
        model = load_model(ckpt.path, input_dim=data.input_dim)
        found = model_topology(model, data, seed=seed)
        classes = [
            {k: v for k, v in c.to_dict().items() if not k.startswith("diagrams")} for c in found
        ]
    name = f"{ckpt.config.dataset}: {ckpt.config.label()}"
    return Inspection(ckpt.path, name, values, classes)
