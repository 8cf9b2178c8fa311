from lilbench.models.lil import ACTIVATIONS, LILMLP, ModelSpec

__all__ = ["ACTIVATIONS", "LILMLP", "ModelSpec"]
