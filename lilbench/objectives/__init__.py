"""Training objectives by name: every module in this folder registers itself on import."""

from lilbench.objectives.base import OBJECTIVES, LossParts, Objective, Params, parse_params
from lilbench.registry import import_submodules

import_submodules(__name__)

__all__ = ["OBJECTIVES", "LossParts", "Objective", "Params", "parse_params"]
