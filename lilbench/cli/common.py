"""Options and output helpers shared by every command (kept here so flags mean one thing)."""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from lilbench.io import symlink_loop

if TYPE_CHECKING:
    import torch

    from lilbench.training.checkpoint import Checkpoint

out = Console(highlight=False)  # tables and results: stdout
err = Console(stderr=True, highlight=False)  # progress and messages: stderr


def suite_command(
    verb: str,
    suite_path: Path,
    *,
    runs_dir: Path | None = None,
    seed: int | None = None,
    device: str | None = None,
    data_dir: Path | None = None,
    force: bool = False,
) -> str:
    """A command line to suggest, in backticks, carrying the options the user gave (a hint
    that drops `--runs-dir R` points at another runs directory and does not work)."""
    parts = ["lilbench", verb, str(suite_path)]
    if runs_dir is not None and runs_dir != Path("runs"):
        parts += ["--runs-dir", str(runs_dir)]
    if seed is not None:
        parts += ["--seed", str(seed)]
    if device is not None:
        parts += ["--device", device]
    if data_dir is not None:
        parts += ["--data-dir", str(data_dir)]
    if force:
        parts.append("--force")
    return "`" + shlex.join(parts) + "`"


def writable_dir(path: Path | None) -> Path | None:
    """Option callback, run before any compute: the directory exists and is writable, or can
    be created (its nearest existing ancestor is a writable directory). Creates nothing."""
    if path is None:
        return None
    loop = symlink_loop(path)
    if loop is not None:
        raise typer.BadParameter(
            f"{loop} is a symbolic link that points back into itself; remove it or give "
            "another directory"
        )
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        what = path if probe == path else f"{path} (its ancestor {probe})"
        raise typer.BadParameter(f"{what} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise typer.BadParameter(f"cannot write in {probe}: {exc.strerror}") from None
    return path


def writable_file(path: Path | None) -> Path | None:
    """Option callback for a file to write: not a directory, in a directory that exists and
    is writable or can be created. Creates nothing."""
    if path is None:
        return None
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; give a file name")
    writable_dir(path.parent)
    return path


RunsDir = Annotated[
    Path,
    typer.Option(
        "--runs-dir", help="Where checkpoints and results are stored.", callback=writable_dir
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (default: $LILBENCH_DATA_DIR or the per-user cache directory).",
        callback=writable_dir,
    ),
]
OutDir = Annotated[
    Path, typer.Option("--out-dir", help="Where the report goes.", callback=writable_dir)
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for every random choice.")]
Device = Annotated[str, typer.Option("--device", help="cpu or cuda (cuda:N).")]
SuiteDevice = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="cpu or cuda (cuda:N); default: the suite's `device` key, else cpu. Checkpoints "
        "and records of another kind of device are never used in their place.",
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.")
]
Force = Annotated[bool, typer.Option("--force", help="Recompute even if a cached result exists.")]


def resolve_device(name: str) -> torch.device:
    from lilbench.runtime import pin_threads
    from lilbench.runtime import resolve_device as resolve

    pin_threads()  # every computing command resolves its device first
    return resolve(name)


def print_json(obj: Any) -> None:
    # Strict JSON: a NaN would be a bug upstream, so it fails here rather than print "NaN".
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
    sys.stdout.flush()


# Training options, shared by `train` and by commands that select a model by its config.
Beta = Annotated[float, typer.Option("--beta", help="Weight of the isometry loss (0 = plain CE).")]
Alpha = Annotated[float, typer.Option("--alpha", help="Weight of the cross-entropy loss.")]


# An attack's own options; training options of the same name read --train-NAME here.
RESERVED_OPTIONS = frozenset(
    {"eps", "steps", "step_size", "limit", "batch_size", "restarts", "seed"}
)

CheckpointOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint", help="Checkpoint directory of the model (instead of training options)."
    ),
]

TestLimit = Annotated[
    int | None, typer.Option("--test-limit", help="Attack the first N test images.")
]

Strict = Annotated[bool, typer.Option("--strict", help="Exit 1 when a sanity check fails.")]


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="A model lilbench did not train: a torch.export .pt2 or TorchScript file, or "
        "package.module:factory with --weights; --dataset names its data.",
    ),
]
WeightsOpt = Annotated[
    Path | None, typer.Option("--weights", help="safetensors weights for a --model factory.")
]


def import_user_model(
    model: str,
    weights: Path | None,
    dataset: str,
    *,
    runs_dir: Path,
    data_dir: Path | None,
    device: str = "cpu",
    quiet: bool = False,
) -> Checkpoint:
    """--model: the user's classifier, imported into the runs directory (once per file)."""
    from lilbench.data import load_dataset
    from lilbench.models.external import parse_model_option
    from lilbench.runtime import resolve_device
    from lilbench.training.checkpoint import import_external

    parsed = parse_model_option(model, weights)  # before any data is loaded
    data = load_dataset(dataset, data_dir=data_dir)
    ckpt = import_external(runs_dir, parsed, dataset=data, device=resolve_device(device))
    if not quiet:
        err.print(f"model {parsed.file} ({parsed.kind}) in {ckpt.path}")
    return ckpt
