from lilbench.models.lil import ACTIVATIONS, LILMLP, ModelSpec
from lilbench.models.stacked import HEADS, StackedLIL, StackedSpec

__all__ = ["ACTIVATIONS", "HEADS", "LILMLP", "ModelSpec", "StackedLIL", "StackedSpec"]
