"""`lilbench train`: train (or reuse) one LIL model and print its metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from lilbench.cli.options import train_config, with_training_options

if TYPE_CHECKING:  # the compute library (torch) loads when the command runs, not for --help
    from lilbench.training.checkpoint import Checkpoint
    from lilbench.training.config import TrainConfig
    from lilbench.training.pipeline import Trained


@contextmanager
def training_progress(quiet: bool) -> Iterator[Callable[[int, int, int, dict[str, float]], None]]:
    """A rich bar on stderr showing the epoch and the objective's loss parts (silent when
    quiet)."""
    if quiet:
        yield lambda *_: None
        return
    columns = (
        TextColumn("[bold]train[/] epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.fields[parts]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("train", total=None, epoch=1, parts="")

        def update(done: int, total: int, epoch: int, parts: dict[str, float]) -> None:
            if done % 20 == 0 or done == total:
                shown = "  ".join(f"{k} {v:.4f}" for k, v in parts.items())
                bar.update(task, completed=done, total=total, epoch=epoch, parts=shown)

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


@with_training_options
def train(
    seed: Seed = 0,
    device: Device = "cpu",
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    force: Force = False,
    json_out: Json = False,
    training: dict[str, Any] | None = None,
) -> None:
    """Train one model (the paper's LIL MNIST settings by default) or reuse its checkpoint.

    --objective picks the training objective (lil, pgd-at, trades, ...; each takes the
    options marked with its name); --beta keeps its meaning for lil. Toy data sets (--dataset
    rings|torus) default to the paper's toy settings: 4 x 20 tanh, full batch, 2000 epochs;
    --hierarchy stacks one LIL block per label level.
    """
    from lilbench.training.pipeline import ensure_checkpoint

    config = train_config(training or {}, seed=seed)
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
    table = Table(title=f"{config.dataset}: {config.label()}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("clean test accuracy", f"{m['clean_test_accuracy']:.4f}")
    for i, (acc, iso) in enumerate(
        zip(m.get("level_accuracy", []), m.get("level_isometry_error", []), strict=True)
    ):
        table.add_row(f"level {i} test accuracy / isometry error", f"{acc:.4f} / {iso:.4f}")
    for key, value in m.items():
        if key.startswith("final_"):
            table.add_row(f"final {key[6:]} (last-epoch mean)", f"{value:.4f}")
    table.add_row("test isometry error (same-class)", f"{m['test_isometry_error']:.4f}")
    if m.get("diverged"):
        table.add_row(
            "[bold red]DIVERGED[/]",
            f"[red]final CE {m['final_ce']:.3f} is above chance (ln C); lower --lr?[/]",
        )
    table.add_row("wall time (s)", f"{m['train_seconds']:.1f}")
    out.print(table)
    # outside the table, never cut: the path is what the next command needs
    out.print(f"checkpoint: {trained.checkpoint.path}", soft_wrap=True)


def select_checkpoint(
    checkpoint: Path | None,
    config: TrainConfig,
    *,
    runs_dir: Path,
    data_dir: Path | None,
    device: str,
    json_out: bool,
) -> Checkpoint:
    """--checkpoint PATH, else the cached checkpoint of the training options (trained if new),
    with a progress bar and a line saying which."""
    from lilbench.training.pipeline import select_checkpoint as select

    with training_progress(quiet=json_out or checkpoint is not None) as progress:
        trained = select(
            checkpoint,
            config,
            runs_dir=runs_dir,
            data_dir=data_dir,
            device=resolve_device(device),
            progress=progress,
        )
    if not json_out and checkpoint is None:
        verb = "reusing" if trained.reused else "trained"
        err.print(f"{verb} checkpoint {trained.checkpoint.path}")
    return trained.checkpoint
