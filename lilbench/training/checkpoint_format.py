"""What a checkpoint is (its directory and metadata) and the constants of the layout, shared
by lilbench's own checkpoints (checkpoint.py) and imported models (external_checkpoint.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lilbench.training.config import TrainConfig

META_KEY = "lilbench"
FORMAT_VERSION = 1
EXTERNAL = "ext-"  # the directory prefix of imported models (models/ext-<hash>/)


@dataclass(frozen=True)
class Checkpoint:
    path: Path  # the checkpoint directory
    meta: dict[str, Any]

    @property
    def external(self) -> bool:
        """A model lilbench did not train (imported with `--model`); its `config` holds only
        the data set it is evaluated on."""
        return "external" in self.meta

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.meta["train_config"])

    @property
    def config_hash(self) -> str:
        return str(self.meta["config_hash"])

    @property
    def tensors_sha256(self) -> str:
        """What every result computed on these weights is keyed by."""
        return str(self.meta["tensors_sha256"])

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta["metrics"])


def is_external(directory: Path) -> bool:
    return directory.name.startswith(EXTERNAL)
