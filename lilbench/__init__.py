"""lilbench: train Locally Isometric Layer models and measure their robustness honestly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lilbench.version import __version__

__all__ = ["Evaluation", "__version__", "evaluate", "load_model", "train"]

if TYPE_CHECKING:
    from lilbench.api import Evaluation, evaluate, train
    from lilbench.training.checkpoint import load_model


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `lilbench --help` does not wait for torch.
    if name == "load_model":
        from lilbench.training.checkpoint import load_model

        return load_model
    if name in ("evaluate", "train", "Evaluation", "AttackPoint"):
        from lilbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'lilbench' has no attribute {name!r}")
