"""The LIL MLP: `depth` hidden layers of `width` units, then a linear classifier.

The isometry loss acts on `features(x)` (phi, the last hidden layer), which is what the
linear head reads; `forward` returns logits (no softmax), as attacks expect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm, spectral_norm

from lilbench.errors import ConfigError
from lilbench.models.family import LevelOutput
from lilbench.models.names import ACTIVATION_NAMES, DTYPE_NAMES, INIT_NAMES

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}
assert tuple(ACTIVATIONS) == ACTIVATION_NAMES  # the torch-free list the options show
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
assert tuple(DTYPES) == DTYPE_NAMES
assert INIT_NAMES == ("default", "orthogonal")


@dataclass(frozen=True)
class ModelSpec:
    input_dim: int = 784
    width: int = 100
    depth: int = 4
    activation: str = "tanh"
    num_classes: int = 10
    spectral_norm: bool = False  # every linear layer's weight divided by its spectral norm
    dtype: str = "float32"  # the parameters' and the computation's dtype
    # "orthogonal": the width x width hidden weights orthogonally initialised (the authors'
    # NN_class); the input and class layers keep PyTorch's default either way.
    init: str = "default"

    def validate(self) -> None:
        if self.activation not in ACTIVATIONS:
            known = ", ".join(ACTIVATIONS)
            raise ConfigError(f"unknown activation {self.activation!r}; known: {known}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")
        if self.init not in INIT_NAMES:
            raise ConfigError(f"unknown init {self.init!r}; known: {', '.join(INIT_NAMES)}")
        for name in ("input_dim", "width", "depth", "num_classes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # Added later: earlier checkpoints' metadata stays the same.
        for key, default in (("spectral_norm", False), ("dtype", "float32"), ("init", "default")):
            if d[key] == default:
                del d[key]
        return d


class LILMLP(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        spec.validate()
        self.spec = spec
        dtype = DTYPES[spec.dtype]
        layers: list[nn.Module] = []
        fan_in = spec.input_dim
        for i in range(spec.depth):
            linear = nn.Linear(fan_in, spec.width, dtype=dtype)
            if i > 0 and spec.init == "orthogonal":
                # In the module's own dtype: a float64 model's W W^T = I to 1e-15, where an
                # orthogonal float32 matrix cast up is orthogonal only to ~1e-7.
                nn.init.orthogonal_(linear.weight)
            layers += [linear, ACTIVATIONS[spec.activation]()]
            fan_in = spec.width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(spec.width, spec.num_classes, dtype=dtype)
        if spec.spectral_norm:
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    # Power iteration runs in train mode; eval mode reuses the last estimate.
                    spectral_norm(module)

    @torch.no_grad()
    def converge_spectral_norm(self, iterations: int = 500) -> None:
        """Run the power method of every spectral norm to convergence.

        torch's spectral_norm takes one power iteration per training step, so at the end of
        training its estimate of sigma can lag the weights (measured: a largest singular value
        of 1.13 after one MNIST epoch); eval mode then divides by that stale estimate.
        """
        for module in self.modules():
            if not parametrize.is_parametrized(module, "weight"):
                continue
            for p in module.parametrizations.weight:  # type: ignore[union-attr]
                if isinstance(p, _SpectralNorm):
                    original = module.parametrizations.weight.original  # type: ignore[union-attr]
                    p._power_method(p._reshape_weight_to_matrix(original), iterations)  # type: ignore[arg-type]

    def layers(self) -> list[nn.Module]:
        """The modules that `forward` applies, in order (what certification bounds)."""
        return [*self.body, self.head]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): the last hidden representation, on which L_iso is imposed."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.body(x)
        return self.head(phi), phi

    def levels(self, x: torch.Tensor) -> list[LevelOutput]:
        logits, phi = self.forward_with_features(x)
        return [LevelOutput(logits, phi, x)]
