"""`jacobian`: Jacobian regularisation (Hoffman, Roberts & Yaida 2019).

CE + lambda_jr / 2 * ||J(x)||_F^2, with J the Jacobian of the logits with respect to the
input. The squared Frobenius norm is estimated with random projections: for v uniform on the
unit sphere of the C-dimensional logit space, C * ||v^T J||^2 is unbiased (E[v v^T] = I / C);
`projections` draws average several. Each v^T J is one extra backward pass, kept in the graph
so that the penalty is trained through (double backpropagation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from lilbench.lazy import lazy_module
from lilbench.objectives.base import OBJECTIVES, LossParts, Objective, Params

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
    from torch import nn
else:
    torch = lazy_module("torch")
    F = lazy_module("torch.nn.functional")
    nn = lazy_module("torch.nn")


class JacobianParams(Params):
    lambda_jr: float = Field(0.01, ge=0, description="Weight of the Jacobian penalty.")
    projections: int = Field(1, ge=1, description="Random projections per batch.")


def frobenius_estimate(
    logits: torch.Tensor, x: torch.Tensor, projections: int, *, create_graph: bool = True
) -> torch.Tensor:
    """Mean over the batch of an unbiased estimate of ||d logits / d x||_F^2 per example."""
    batch, classes = logits.shape
    total = logits.new_zeros(())
    for _ in range(projections):
        v = torch.randn(batch, classes, device=logits.device, dtype=logits.dtype)
        v = v / v.norm(dim=1, keepdim=True)
        (g,) = torch.autograd.grad(
            (logits * v).sum(), x, create_graph=create_graph, retain_graph=True
        )
        total = total + classes * g.pow(2).sum() / batch
    return total / projections


@OBJECTIVES.register("jacobian")
class Jacobian(Objective):
    name = "jacobian"
    params_type = JacobianParams
    label_keys = ("lambda_jr",)
    params: JacobianParams

    def loss(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> LossParts:
        x = x.detach().requires_grad_(True)
        logits = model(x)
        ce = F.cross_entropy(logits, labels[:, -1])
        jac = frobenius_estimate(logits, x, self.params.projections)
        return {"total": ce + self.params.lambda_jr / 2 * jac, "ce": ce, "jac": jac}
