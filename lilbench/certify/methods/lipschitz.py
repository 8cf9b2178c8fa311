"""margin(x) - eps * Lip(margin): the paper's argument made quantitative. The first layer's
norm from the threat model's norm to L2 (L-inf: sqrt(sum_i ||W1[i]||_1^2); L2: the spectral
norm; L1: the largest column norm), every later layer's spectral norm; every activation is
1-Lipschitz. The clip to the box only shrinks the ball."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify.methods.base import Method, Problem, register
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


def first_layer_norm(w: torch.Tensor, p: float) -> torch.Tensor:
    """A bound on ||W||_{p -> 2}."""
    if p == 2:
        return torch.linalg.matrix_norm(w, ord=2)
    if p == 1:  # the image of a unit L1 ball's vertices: the largest column
        return w.norm(dim=0).max()
    return w.abs().sum(1).pow(2).sum().sqrt()  # L-inf: each row's worst point


@register
class Lipschitz(Method):
    name = "lipschitz"
    order = 0
    default = True
    summary = "the margin minus eps times its Lipschitz constant"

    def margins(self, problem: Problem) -> torch.Tensor:
        chain, spec, threat = problem.chain, problem.spec, problem.inputs.threat
        eps = problem.inputs.eps
        margins = (spec @ chain.forward(problem.x)[:, :, None])[..., 0]
        if len(chain.weights) == 1:  # a linear model: the exact dual norm of the margin row
            return margins - eps * threat.dual_norm(spec @ chain.weights[0])
        first = first_layer_norm(chain.weights[0], threat.p)
        middle = torch.tensor(1.0, dtype=torch.float64)
        for w in chain.weights[1:-1]:
            middle = middle * torch.linalg.matrix_norm(w, ord=2)
        last = (spec @ chain.weights[-1]).norm(dim=-1)  # ||W_L[y] - W_L[j]||_2
        return margins - eps * first * middle * last
