from lilbench.models.lil import ACTIVATIONS, LILMLP, ModelSpec
from lilbench.models.registry import MODELS, ModelFamily
from lilbench.models.stacked import HEADS, StackedLIL, StackedSpec

__all__ = [
    "ACTIVATIONS",
    "HEADS",
    "LILMLP",
    "MODELS",
    "ModelFamily",
    "ModelSpec",
    "StackedLIL",
    "StackedSpec",
]
