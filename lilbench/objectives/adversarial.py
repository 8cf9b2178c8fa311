"""Inner maximisation shared by the adversarial-training objectives (PGD-AT, TRADES).

Plain torch inside lilbench's training loop, so that seeds (torch's generator), the progress
bar, loss parts and checkpoints stay the same for every objective; a test checks it against
ART's PGD on the same start point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")
    nn = lazy_module("torch.nn")


def linf_pgd(
    model: nn.Module,
    x: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    eps: float,
    steps: int,
    step_size: float,
    start: torch.Tensor,
) -> torch.Tensor:
    """Ascend `loss_fn(model(x_adv))` by signed gradient steps, projected onto the L-inf ball
    of radius eps around x and onto [0, 1]; only the input is differentiated."""
    x = x.detach()
    lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    x_adv = torch.max(torch.min(start.detach(), hi), lo)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(model(x_adv)), x_adv)
        x_adv = torch.max(torch.min(x_adv.detach() + step_size * grad.sign(), hi), lo)
    return x_adv.detach()
