"""`lilbench data prepare NAME`: fetch and verify a data set ahead of time."""

from __future__ import annotations

from typing import Annotated

import typer

from lilbench.cli.common import DataDir, err
from lilbench.data import dataset_names, default_data_dir
from lilbench.errors import ConfigError

app = typer.Typer(help="Prepare data sets (MNIST works offline).", no_args_is_help=True)


@app.command("prepare")
def prepare(
    name: Annotated[str, typer.Argument(help="Data set name, e.g. mnist.")],
    data_dir: DataDir = None,
) -> None:
    """Fetch, verify and convert a data set into the data directory."""
    directory = data_dir or default_data_dir()
    if name != "mnist":
        if name in dataset_names():
            err.print(f"{name} is generated on demand; nothing to prepare")
            return
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    with err.status("preparing MNIST"):
        from lilbench.data.mnist import prepare_mnist

        path = prepare_mnist(directory, log=lambda msg: err.print(f"  {msg}"))
    err.print(f"MNIST ready: {path}")
