"""`lilbench train`: train (or reuse) one LIL model and print its metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from lilbench.cli.common import (
    Activation,
    Alpha,
    Beta,
    DataDir,
    DatasetOpt,
    Depth,
    Detach,
    Device,
    Epochs,
    Force,
    Head,
    Hierarchy,
    Json,
    K,
    Lr,
    Mode,
    RunsDir,
    Seed,
    Width,
    err,
    out,
    print_json,
    resolve_device,
)
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import Trained, ensure_checkpoint

_D = TrainConfig()


@contextmanager
def training_progress(quiet: bool) -> Iterator[Callable[[int, int, int, float, float], None]]:
    """A rich bar on stderr showing epoch, CE and L_iso (silent when quiet)."""
    if quiet:
        yield lambda *_: None
        return
    columns = (
        TextColumn("[bold]train[/] epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("CE {task.fields[ce]:.4f}  L_iso {task.fields[iso]:.4f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("train", total=None, epoch=1, ce=0.0, iso=0.0)

        def update(done: int, total: int, epoch: int, ce: float, iso: float) -> None:
            if done % 20 == 0 or done == total:
                bar.update(task, completed=done, total=total, epoch=epoch, ce=ce, iso=iso)

        yield update


def summary(trained: Trained) -> dict[str, object]:
    ckpt = trained.checkpoint
    return {
        "checkpoint": str(ckpt.path),
        "config_hash": ckpt.config_hash,
        "reused": trained.reused,
        "config": ckpt.meta["train_config"],
        "metrics": ckpt.metrics,
    }


def train(
    beta: Beta = 0.0,
    alpha: Alpha = _D.alpha,
    mode: Mode = _D.mode,
    k: K = _D.k,
    dataset: DatasetOpt = _D.dataset,
    width: Width = None,
    depth: Depth = None,
    activation: Activation = _D.activation,
    epochs: Epochs = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Mini-batch size (default: 100 for MNIST, full batch for toys)."),
    ] = None,
    lr: Lr = _D.lr,
    limit: Annotated[
        int | None, typer.Option(help="Train on the first N training samples only.")
    ] = None,
    hierarchy: Hierarchy = False,
    head: Head = _D.head,
    detach: Detach = True,
    seed: Seed = 0,
    device: Device = "cpu",
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train one LIL model (the paper's MNIST settings by default) or reuse its checkpoint.

    Toy data sets (--dataset rings|torus) default to the paper's toy settings: 4 x 20 tanh,
    full batch, 2000 epochs; --hierarchy stacks one LIL block per label level.
    """
    config = TrainConfig.for_dataset(
        dataset,
        beta=beta,
        alpha=alpha,
        mode=mode,
        k=k,
        width=width,
        depth=depth,
        activation=activation,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        limit=limit,
        seed=seed,
        hierarchy=hierarchy,
        head=head,
        detach=detach,
    ).validate()
    dev = resolve_device(device)
    with training_progress(quiet=json_out) as progress:
        trained = ensure_checkpoint(
            config,
            runs_dir=runs_dir,
            data_dir=data_dir,
            device=dev,
            force=force,
            progress=progress,
        )
    info = summary(trained)
    if json_out:
        print_json(info)
        return
    if trained.reused:
        err.print(f"reusing checkpoint {trained.checkpoint.path} (same config; --force retrains)")
    m = trained.checkpoint.metrics
    table = Table(
        title=f"{config.dataset}: beta = {config.beta:g}, mode = {config.normalised().mode}"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("clean test accuracy", f"{m['clean_test_accuracy']:.4f}")
    for i, (acc, iso) in enumerate(
        zip(m.get("level_accuracy", []), m.get("level_isometry_error", []), strict=True)
    ):
        table.add_row(f"level {i} test accuracy / isometry error", f"{acc:.4f} / {iso:.4f}")
    table.add_row("final CE (last-epoch mean)", f"{m['final_ce']:.4f}")
    table.add_row("final L_iso (last-epoch mean)", f"{m['final_iso']:.4f}")
    table.add_row("test isometry error (same-class)", f"{m['test_isometry_error']:.4f}")
    table.add_row("wall time (s)", f"{m['train_seconds']:.1f}")
    table.add_row("checkpoint", str(trained.checkpoint.path))
    out.print(table)
