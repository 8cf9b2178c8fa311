"""Which model a certify command names: training options, --checkpoint, or a user's --model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lilbench.certify.spec import refuse_uncertifiable
from lilbench.cli.common import import_user_model
from lilbench.cli.options import train_config
from lilbench.cli.train import select_checkpoint
from lilbench.errors import ConfigError

if TYPE_CHECKING:
    from lilbench.training.checkpoint_format import Checkpoint


def chosen_model(
    training: dict[str, Any] | None,
    checkpoint: Path | None,
    model: str | None,
    weights: Path | None,
    *,
    seed: int,
    runs_dir: Path,
    data_dir: Path | None,
    json_out: bool,
    refuse: bool,
) -> Checkpoint:
    """The model a certify command names: training options, --checkpoint, or the user's
    --model (imported once); `refuse`: a family the bounds cannot take, before training."""
    options = {k.removeprefix("train_"): v for k, v in (training or {}).items()}
    if checkpoint is not None and options:
        raise ConfigError("give --checkpoint or training options to select a model, not both")
    config = train_config(options, seed=seed)
    if model is not None:
        if checkpoint is not None or set(options) - {"dataset"}:
            raise ConfigError("--model takes only --dataset from the model options")
        return import_user_model(
            model, weights, config.dataset, runs_dir=runs_dir, data_dir=data_dir, quiet=json_out
        )
    if refuse and checkpoint is None:  # refused before anything is trained
        refuse_uncertifiable(config)
    return select_checkpoint(
        checkpoint, config, runs_dir=runs_dir, data_dir=data_dir, device="cpu", json_out=json_out
    )
