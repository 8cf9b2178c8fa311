"""`inspect`'s output: one checkpoint's representation diagnostics (the record's values, see
`results/inspection.py`) rendered as figures and inspect.json. Computes nothing from weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lilbench.io import write_json_atomic
from lilbench.reports.inspect_plots import distance_figure, embedding_figure


def write_inspection(
    values: dict[str, Any], target: Path, name: str, checkpoint: Path, classes: list[dict[str, Any]]
) -> dict[str, Any]:
    """The figures and inspect.json under `target`; returns what inspect.json holds."""
    distance_figure(values, target / "distances.png", name)
    embedding_figure(values, target / "embedding.png", name)
    summary: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        **values["summary"],
        "figures": [str(target / "distances.png"), str(target / "embedding.png")],
    }
    if classes:
        summary["topology"] = classes
    write_json_atomic(target / "inspect.json", summary)
    return summary
