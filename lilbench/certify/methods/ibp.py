"""Interval bound propagation, with the last layer folded into the margins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify.inputs import interval
from lilbench.certify.methods.base import Bounds, Method, Problem, register
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


def ibp_layer_bounds(problem: Problem) -> Bounds:
    """Pre-activation bounds of every hidden layer (cached on the problem)."""
    if "ibp" in problem.cache:
        return problem.cache["ibp"]  # type: ignore[return-value]
    chain, inputs = problem.chain, problem.inputs
    out: Bounds = []
    lb, ub = inputs.lb, inputs.ub
    for i, act in enumerate(chain.activations):
        if i == 0:
            zl, zu = inputs.affine(chain.weights[0], chain.biases[0])
        else:
            zl, zu = interval(chain.weights[i], chain.biases[i], lb, ub)
        out.append((zl, zu))
        lb, ub = act.apply(zl), act.apply(zu)  # every activation is monotone
    problem.cache["ibp"] = out
    return out


def last_interval(problem: Problem, pre: Bounds) -> torch.Tensor:
    """The margins' lower bounds from the last hidden layer's interval."""
    chain = problem.chain
    if pre:
        zl, zu = pre[-1]
        act = chain.activations[-1]
        hl, hu = act.apply(zl), act.apply(zu)
    else:
        hl, hu = problem.inputs.lb, problem.inputs.ub
    w, b = problem.spec @ chain.weights[-1], problem.spec @ chain.biases[-1]
    low = interval(w, b, hl, hu)[0]
    if not pre and not problem.inputs.threat.box_is_exact:  # linear: the ball directly
        low = torch.maximum(low, problem.inputs.low(w, b))
    return low


@register
class IBP(Method):
    name = "ibp"
    order = 1
    default = True
    summary = "interval bound propagation"

    def margins(self, problem: Problem) -> torch.Tensor:
        return last_interval(problem, ibp_layer_bounds(problem))
