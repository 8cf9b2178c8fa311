"""Training objectives as plugins: one file each, registered by name, with typed parameters.

An objective maps (model, a batch of inputs, their labels) to named loss parts; the part
"total" is minimised and the others are shown in the progress bar, `--json`, the checkpoint's
metrics and the report. Its parameters are a pydantic model: validated once, and the source of
the CLI options, the suite keys, the config hash and the report labels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from lilbench.lazy import lazy_module
from lilbench.params import known_keys
from lilbench.params import parse_params as shared_parse
from lilbench.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")
    nn = lazy_module("torch.nn")

LossParts = dict[str, "torch.Tensor"]


class Params(BaseModel):
    """Base of every objective's parameters: immutable, no unknown keys, finite floats, and
    no silent coercion (a YAML string or a boolean is not a number)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class Objective(ABC):
    name: ClassVar[str]
    params_type: ClassVar[type[Params]]
    # Parameter names shown in labels ("pgd-at eps=0.1"): the ones a sweep varies.
    label_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Params) -> None:
        self.params = params

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Objective:
        return cls(parse_params(cls, values))

    @abstractmethod
    def loss(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> LossParts:
        """Named loss parts with "total"; `labels` is [B, levels] (one level unless stacked)."""

    def attack_objective(self) -> dict[str, float | str]:
        """What the paper-faithful attacks maximise for this model: beta, mode and k of the
        isometry term (beta 0: plain cross-entropy)."""
        return {"beta": 0.0, "mode": "none", "k": 1.0}

    def noise_baseline(self) -> bool:
        """Trained for random noise and nothing else (Gaussian augmentation): the baseline a
        noise-robustness claim is measured against."""
        return False

    def label(self) -> str:
        shown = " ".join(f"{k}={_fmt(getattr(self.params, k))}" for k in self.label_keys)
        return f"{self.name} {shown}".strip()


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def parse_params(cls: type[Objective], values: dict[str, Any]) -> Params:
    """Validate an objective's parameters; a problem is one line naming the key."""

    def explain(e: dict[str, Any], key: str) -> str | None:
        if e["type"] == "extra_forbidden":
            known = known_keys(cls.params_type)
            return f"{cls.name}: unknown parameter {key!r}; known: {known}"
        return None

    return shared_parse(cls.params_type, values, owner=cls.name, explain=explain)
