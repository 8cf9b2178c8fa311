"""The mechanism's quantities of one model: its mean input-gradient norm, sampled local
Lipschitz constant of phi, mean Jacobian spectral norm and the product of its layers'
spectral norms (`diagnostics.mechanism`), on the test split."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lilbench.measures.base import Measure, register

if TYPE_CHECKING:
    from torch import nn

    from lilbench.data import Dataset

MECHANISM_PARAMS = {"points": 1000, "seed": 0}  # what `diagnostics.mechanism` is given


def mechanism_of(model: nn.Module, data: Dataset) -> dict[str, Any]:
    from lilbench.diagnostics import mechanism

    return dict(mechanism(model, data.x_test, data.y_test, seed=0))


register(Measure("mechanism", mechanism_of, MECHANISM_PARAMS))
