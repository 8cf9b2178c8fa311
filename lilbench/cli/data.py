"""`lilbench data prepare NAME`: fetch and verify a data set ahead of time."""

from __future__ import annotations

from typing import Annotated

import typer

from lilbench.cli.common import DataDir, err
from lilbench.data import DATASETS, dataset_names, default_data_dir, load_dataset
from lilbench.data.base import PREPARERS, checked_data_dir
from lilbench.errors import ConfigError

app = typer.Typer(
    help="Prepare data sets (MNIST works offline; Fashion-MNIST and CIFAR-10 download when "
    "online).",
    no_args_is_help=True,
)


@app.command("prepare")
def prepare(
    name: Annotated[str, typer.Argument(help="Data set name, e.g. mnist.")],
    data_dir: DataDir = None,
) -> None:
    """Fetch, verify and convert a data set into the data directory."""
    directory = checked_data_dir(data_dir or default_data_dir())
    if name not in PREPARERS:
        if name in dataset_names():
            err.print(f"{name} is generated on demand; nothing to prepare")
            return
        raise ConfigError(DATASETS.unknown(name))
    with err.status(f"preparing {name}"):
        path = PREPARERS.get(name)(directory, lambda msg: err.print(f"  {msg}"))
    load_dataset(name, data_dir=directory)  # reads and verifies every file once
    err.print(f"{name} ready: {path}")
