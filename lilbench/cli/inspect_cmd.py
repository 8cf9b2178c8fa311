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
from lilbench.io import write_json_atomic


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
    # The engine (torch, matplotlib) loads here, not for --help.
    from lilbench.data import load_dataset
    from lilbench.diagnostics import diagnose
    from lilbench.reports.inspect_plots import distance_figure, embedding_figure
    from lilbench.training.checkpoint import load_model, read_checkpoint

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
        from lilbench.results.topology_records import model_topology

        found = model_topology(model, data, seed=seed)
        classes = [
            {k: v for k, v in c.to_dict().items() if not k.startswith("diagrams")} for c in found
        ]
        summary["topology"] = classes
    write_json_atomic(target / "inspect.json", summary)
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"inspect {ckpt.path.name} ({name}, {diag.summary['points']} test points)")
    table.add_column("diagnostic")
    table.add_column("value", justify="right")
    for key, value in diag.summary.items():
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
    err.print(f"figures and JSON in {target}")
