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
    DataDir,
    Device,
    Force,
    Json,
    RunsDir,
    Seed,
    err,
    out,
    print_json,
    resolve_device,
)
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import Trained, ensure_checkpoint

_D = TrainConfig()


def train_config_from_options(
    *,
    dataset: str,
    beta: float,
    alpha: float,
    mode: str,
    k: float,
    width: int,
    depth: int,
    activation: str,
    epochs: int,
    batch_size: int,
    lr: float,
    limit: int | None,
    seed: int,
) -> TrainConfig:
    return TrainConfig(
        dataset=dataset,
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
    ).validate()


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
    beta: Annotated[float, typer.Option(help="Weight of the isometry loss (0 = plain CE).")] = 0.0,
    alpha: Annotated[float, typer.Option(help="Weight of the cross-entropy loss.")] = _D.alpha,
    mode: Annotated[str, typer.Option(help="local (within class), global, or none.")] = _D.mode,
    k: Annotated[float, typer.Option("--k", help="Scale K on the hidden distances.")] = _D.k,
    dataset: Annotated[str, typer.Option(help="Data set name.")] = _D.dataset,
    width: Annotated[int, typer.Option(help="Hidden units per layer.")] = _D.width,
    depth: Annotated[int, typer.Option(help="Number of hidden layers.")] = _D.depth,
    activation: Annotated[str, typer.Option(help="tanh or relu.")] = _D.activation,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = _D.epochs,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = _D.batch_size,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = _D.lr,
    limit: Annotated[
        int | None, typer.Option(help="Train on the first N training samples only.")
    ] = None,
    seed: Seed = 0,
    device: Device = "cpu",
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train one LIL model (the paper's MNIST settings by default) or reuse its checkpoint."""
    config = train_config_from_options(
        dataset=dataset,
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
    )
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
    table = Table(title=f"beta = {config.beta:g}, mode = {config.normalised().mode}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("clean test accuracy", f"{m['clean_test_accuracy']:.4f}")
    table.add_row("final CE (last-epoch mean)", f"{m['final_ce']:.4f}")
    table.add_row("final L_iso (last-epoch mean)", f"{m['final_iso']:.4f}")
    table.add_row("test isometry error (same-class)", f"{m['test_isometry_error']:.4f}")
    table.add_row("wall time (s)", f"{m['train_seconds']:.1f}")
    table.add_row("checkpoint", str(trained.checkpoint.path))
    out.print(table)
