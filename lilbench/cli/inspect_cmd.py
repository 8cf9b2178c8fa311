"""`lilbench inspect CHECKPOINT`: representation diagnostics on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lilbench.cli.common import (
    DataDir,
    Json,
    Seed,
    err,
    out,
    print_json,
    resolve_device,
    writable_dir,
)
from lilbench.errors import ConfigError


def inspect(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint directory.")],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", help="Where PNGs and JSON go (default: beside it).", callback=writable_dir
        ),
    ] = None,
    max_points: Annotated[int, typer.Option("--max-points", help="Test points used.")] = 2000,
    seed: Seed = 0,
    device: Annotated[
        str, typer.Option("--device", help="cpu only: the diagnostics run on the CPU.")
    ] = "cpu",
    data_dir: DataDir = None,
    with_topology: Annotated[
        bool,
        typer.Option(
            "--topology",
            help="Also persistent homology per class, inputs vs phi (up to 500 points a "
            "class; needs pip install 'lilbench[topology]').",
        ),
    ] = False,
    json_out: Json = False,
) -> None:
    """Distance distributions, isometry errors, 2-D map, gradient norms, Lipschitz estimates;
    with --topology, each class's Betti numbers, loop lifetime and bottleneck distance."""
    if resolve_device(device).type != "cpu":
        raise ConfigError(f"--device {device}: inspect's diagnostics run on the CPU only")
    if max_points < 2:
        raise typer.BadParameter("must be >= 2", param_hint="--max-points")
    if with_topology:
        from lilbench.topology import require

        require()
    # The compute libraries (torch, matplotlib) load here, not for --help.
    from lilbench.reports.inspect import write_inspection
    from lilbench.results.inspection import inspect_checkpoint

    found = inspect_checkpoint(
        checkpoint,
        data_dir=data_dir,
        max_points=max_points,
        seed=seed,
        with_topology=with_topology,
    )
    folder = out_dir or found.checkpoint / "inspect"
    summary = write_inspection(found.values, folder, found.name, found.checkpoint, found.classes)
    classes = found.classes
    if json_out:
        print_json(summary)
        return
    points = summary["points"]
    table = Table(title=f"inspect {found.checkpoint.name} ({found.name}, {points} test points)")
    table.add_column("diagnostic")
    table.add_column("value", justify="right")
    shown = {k: v for k, v in summary.items() if k not in ("checkpoint", "figures", "topology")}
    for key, value in shown.items():
        table.add_row(
            key.replace("_", " "), f"{value:.4g}" if isinstance(value, float) else str(value)
        )
    out.print(table)
    if classes:
        topo = Table(title="topology per class (Betti at persistence > 0.25 of the mean distance)")
        for column in ("level", "class", "points", "Betti in", "Betti phi", "H1 in", "H1 phi"):
            topo.add_column(column)
        topo.add_column("bottleneck H1", justify="right")
        for c in classes:
            topo.add_row(
                *(str(c[k]) for k in ("level", "label", "points", "betti_input", "betti_phi")),
                f"{c['h1_input']:.3f}",
                f"{c['h1_phi']:.3f}",
                f"{c['bottleneck_h1']:.3f}",
            )
        out.print(topo)
    err.print(f"figures and JSON in {folder}")
