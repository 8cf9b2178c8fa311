"""CROWN (Zhang et al. 2018): every activation relaxed by its lines, every hidden layer's
pre-activation bounds from CROWN itself, each intersected with IBP's (so never looser)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify import backward
from lilbench.certify.inputs import interval
from lilbench.certify.methods.base import Bounds, Method, Problem, register
from lilbench.certify.methods.ibp import last_interval
from lilbench.certify.relax import Lines
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


def crown_layer_bounds(problem: Problem, *, intersect: bool = True) -> tuple[Bounds, list[Lines]]:
    """Pre-activation bounds of every hidden layer and the lines drawn on them (cached on
    the problem; `intersect` False: CROWN alone, for the tests)."""
    key = "crown" if intersect else "crown alone"
    if key in problem.cache:
        return problem.cache[key]  # type: ignore[return-value]
    chain, inputs = problem.chain, problem.inputs
    pre: Bounds = []
    lines: list[Lines] = []
    hl, hu = inputs.lb, inputs.ub
    for i, act in enumerate(chain.activations):
        if i == 0:
            ibp_l, ibp_u = inputs.affine(chain.weights[0], chain.biases[0])
        else:
            ibp_l, ibp_u = interval(chain.weights[i], chain.biases[i], hl, hu)
        if i == 0 and intersect:  # an affine map of the input set: the interval is exact
            zl, zu = ibp_l, ibp_u
        else:
            cl, cu = backward.both_sides(chain, i, lines, inputs)
            zl, zu = (torch.maximum(cl, ibp_l), torch.minimum(cu, ibp_u)) if intersect else (cl, cu)
        pre.append((zl, zu))
        lines.append(act.lines(zl, zu))
        hl, hu = act.apply(zl), act.apply(zu)
    problem.cache[key] = (pre, lines)
    return pre, lines


def crown_margins(problem: Problem, *, intersect: bool = True) -> torch.Tensor:
    key = "crown margins" if intersect else "crown alone margins"
    if key in problem.cache:
        return problem.cache[key]  # type: ignore[return-value]
    pre, lines = crown_layer_bounds(problem, intersect=intersect)
    top = len(problem.chain.weights) - 1
    low = backward.lower(problem.chain, problem.spec, top, lines, problem.inputs)
    if intersect:
        low = torch.maximum(low, last_interval(problem, pre))
    problem.cache[key] = low
    return low


@register
class Crown(Method):
    name = "crown"
    order = 2
    default = True
    monotone = False  # its lines change with the ball: not nested in eps
    uses_layer_bounds = True
    summary = "backward linear relaxation, never looser than IBP"

    def margins(self, problem: Problem) -> torch.Tensor:
        return crown_margins(problem)
