"""What the members share: predictions in fixed chunks, L-inf and L2 distances, margins."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lilbench.threats import threat


def euclidean(norm: str) -> bool:
    """Whether the threat model is L2, whose kernels (ART's L2 arithmetic) these are."""
    return threat(norm).p == 2


ART_PREDICT_BATCH = 128  # the batch ART's stock `predict` uses when an attack calls it bare


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, chunk: int = ART_PREDICT_BATCH) -> torch.Tensor:
    """argmax labels, in chunks of `chunk` rows (ART's batching: the rows' logits are then
    the same floats as ART's, since a matrix product's rows can depend on the batch size)."""
    out = [model(x[i : i + chunk]).argmax(1) for i in range(0, len(x), chunk)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=x.device)


def linf(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).reshape(len(a), -1).abs().amax(1)


def l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).reshape(len(a), -1).double().norm(dim=1).to(a.dtype)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).reshape(len(a), -1).double().abs().sum(1).to(a.dtype)


def distance(a: torch.Tensor, b: torch.Tensor, norm: str) -> torch.Tensor:
    """Row-wise distance in the norm "inf", "2" or "1" (float64 sums, in a's dtype)."""
    return {2.0: l2, 1.0: l1}.get(threat(norm).p, linf)(a, b)


def within(adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str = "inf") -> torch.Tensor:
    """AutoAttack's acceptance of a perturbation. L-inf: within eps with 1e-4 relative slack
    (as ART's `run_attack`; every member's L-inf point is clamped into the ball, so the slack
    only absorbs rounding). L2: within eps, no slack (as the official FAB's check), since an
    L2 point is not clamped and the runner's check allows only 1e-6. L1: within eps with the
    runner's 1e-6 (an L1 point is projected in float64, then stored in float32)."""
    if euclidean(norm):
        return l2(adv, x).double() <= eps
    if threat(norm).p == 1:
        return l1(adv, x).double() <= eps * (1 + 1e-6)
    return (1 - 1e-4) * linf(adv, x).double() <= eps


def eps32(eps: float) -> float:
    """eps rounded to float32: clamping float32 values to it equals ART's float64 projection
    (sign(v) * min(|v|, eps) cast back to float32), for every v."""
    return float(np.float32(eps))


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """logit of the label minus the largest other logit (< 0: misclassified)."""
    own = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return own - other


class PassCounter(nn.Module):
    """The model, counting the rows it is run on: forward, and backward (a hook on the output
    fires once per gradient computed through it, so a Jacobian of k rows counts k). Numbers
    are unchanged: the wrapped module computes exactly what the model does."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.forward_rows = 0
        self.backward_rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forward_rows += int(x.shape[0])
        out: torch.Tensor = self.inner(x)
        if out.requires_grad:
            out.register_hook(self._backward)
        return out

    def _backward(self, grad: torch.Tensor) -> None:
        self.backward_rows += int(grad.shape[0])

    def snapshot(self) -> tuple[int, int]:
        return self.forward_rows, self.backward_rows


def passes(model: nn.Module) -> tuple[int, int] | None:
    """(forward rows, backward rows) so far, where the model counts them."""
    return model.snapshot() if isinstance(model, PassCounter) else None


INCOMPLETE_STEPS = 10  # the last steps of the loss curve an unfinished optimisation moves in
INCOMPLETE_MOVE = 0.05  # ... by more than this, on the curve scaled to [0, 1]


class Trace:
    """What an attack's iterates did, per image of the run, for the indicators of attack
    failure (Pintor et al. 2022): some iterate misclassified (for silent success), the loss
    gradient at the first iterate zero or not finite in every optimisation run on the image
    (unavailable gradients: no loss the attack used gave a usable gradient), zero in some
    DLR run (AutoAttack's own "zero DLR gradient" flag: ART's targeted DLR is constant where
    the target is the third-largest logit), the running best loss still moving in the last
    steps (incomplete optimisation), and which images the iterates were seen for. Filled by
    lilbench's gradient kernels (APGD, in every form)."""

    def __init__(self, n: int) -> None:
        self.adversarial = np.zeros(n, dtype=bool)
        self.zero_gradient = np.ones(n, dtype=bool)  # AND over the runs (where traced)
        self.zero_dlr = np.zeros(n, dtype=bool)  # OR over the DLR runs
        self.incomplete = np.zeros(n, dtype=bool)
        self.traced = np.zeros(n, dtype=bool)

    def add(
        self,
        rows: torch.Tensor,
        *,
        adversarial: torch.Tensor,
        zero_gradient: torch.Tensor,
        incomplete: torch.Tensor,
        loss: str = "ce",
    ) -> None:
        """Rows (indices into the run's images) of one optimisation with `loss`: the last
        optimisation of an image says whether it was left incomplete."""
        idx = rows.cpu().numpy()
        zero = zero_gradient.cpu().numpy()
        self.adversarial[idx] |= adversarial.cpu().numpy()
        self.zero_gradient[idx] &= zero
        if loss == "dlr":
            self.zero_dlr[idx] |= zero
        self.incomplete[idx] = incomplete.cpu().numpy()
        self.traced[idx] = True

    @property
    def unavailable(self) -> np.ndarray:
        return self.zero_gradient & self.traced


def incomplete(curve: list[torch.Tensor], *, maximise: bool) -> torch.Tensor:
    """Per row of the running-best loss curve (one tensor per evaluation): scaled to [0, 1],
    does it still move by more than INCOMPLETE_MOVE over its last INCOMPLETE_STEPS steps."""
    c = torch.stack(curve).double()  # [steps, rows]
    c = c if maximise else -c
    best = torch.cummax(c, dim=0).values
    lo, hi = best[0], best[-1]
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    scaled = (best - lo) / span
    k = min(INCOMPLETE_STEPS, len(curve) - 1)
    return (scaled[-1] - scaled[-1 - k]) > INCOMPLETE_MOVE
