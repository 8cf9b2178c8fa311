"""alpha-CROWN (Xu et al. 2021): CROWN's free lines become parameters, set per image, margin
row and neuron, and optimised by projected Adam on the sum of the margins' lower bounds,
starting from CROWN's own lines. Every position in range is a sound line, so every iterate's
bound is sound; each bound is the elementwise best over the iterates and CROWN's, so never
looser than `crown`. Deterministic: no randomness, float64.

`alpha-crown` keeps the hidden layers' bounds CROWN's; `alpha-crown-full` (the published
alpha-CROWN, several times slower) optimises each hidden layer's bounds the same way first,
from the second on, both sides of every neuron, layer by layer, each feeding the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify import backward
from lilbench.certify.methods.base import Bounds, Method, Problem, register
from lilbench.certify.methods.crown import crown_layer_bounds, crown_margins
from lilbench.certify.relax import Free
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

ALPHA_ITERATIONS = 20  # Adam steps on the lines' free parameters, per batch of images
ALPHA_LR = 0.1  # in units of the parameters' range [0, 1]


def optimise(
    problem: Problem,
    spec: torch.Tensor,
    pre: Bounds,
    top: int,
    iterations: int = ALPHA_ITERATIONS,
    lr: float = ALPHA_LR,
) -> torch.Tensor | None:
    """The best lower bounds [N, m] of spec @ z_top over projected-Adam iterates of the free
    lines of the layers below `top` (None: no line is free, CROWN's bound is the answer)."""
    chain, inputs = problem.chain, problem.inputs
    acts = chain.activations[:top]
    frees: list[Free] = [act.free(*pre[i]) for i, act in enumerate(acts)]
    if not any(f.any for f in frees):
        return None
    m = spec.shape[1]
    params = [
        t0[:, None, :].expand(-1, m, -1).clone().requires_grad_(True)
        for f in frees
        for t0 in (f.t_lo0, f.t_up0)
    ]
    best: torch.Tensor | None = None
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(iterations + 1):  # the last pass only evaluates the final lines
        lines = [
            act.lines_at(*pre[i], frees[i], params[2 * i], params[2 * i + 1])
            for i, act in enumerate(acts)
        ]
        low = backward.lower(chain, spec, top, lines, inputs)
        best = low.detach() if best is None else torch.maximum(best, low.detach())
        if step == iterations:
            break
        opt.zero_grad()
        (-low.sum()).backward()
        opt.step()
        with torch.no_grad():
            for t in params:
                t.clamp_(0.0, 1.0)  # the projection: back into the sound range
    return best


def alpha_crown_margins(
    problem: Problem,
    *,
    intermediate: bool = False,
    iterations: int = ALPHA_ITERATIONS,
    lr: float = ALPHA_LR,
) -> torch.Tensor:
    crown = crown_margins(problem)
    pre = list(crown_layer_bounds(problem)[0])
    chain = problem.chain
    if intermediate:
        for top in range(1, len(chain.activations)):
            w = chain.weights[top].shape[0]
            eye = torch.eye(w, dtype=torch.float64)
            rows = torch.cat([eye, -eye]).expand(len(problem.x), 2 * w, w)
            low = optimise(problem, rows, pre, top, iterations, lr)
            if low is not None:
                zl, zu = pre[top]
                pre[top] = (torch.maximum(zl, low[:, :w]), torch.minimum(zu, -low[:, w:]))
    low = optimise(problem, problem.spec, pre, len(chain.weights) - 1, iterations, lr)
    return crown if low is None else torch.maximum(crown, low)


def _narrowed(problem: Problem, rows: torch.Tensor) -> Problem:
    """The problem on a subset of its images, CROWN's layer bounds carried over."""
    sub = Problem(problem.chain, problem.x[rows], problem.labels[rows], problem.inputs.subset(rows))
    pre, lines = crown_layer_bounds(problem)
    sub.cache["crown"] = (
        [(lo[rows], hi[rows]) for lo, hi in pre],
        [type(ln)(*(v[rows] for v in (ln.a_lo, ln.b_lo, ln.a_up, ln.b_up))) for ln in lines],
    )
    sub.cache["crown margins"] = crown_margins(problem)[rows]
    return sub


@register
class AlphaCrown(Method):
    name = "alpha-crown"
    order = 3
    monotone = False
    uses_layer_bounds = True
    summary = "CROWN with the margins' lines optimised"
    intermediate = False

    def margins(self, problem: Problem) -> torch.Tensor:
        return alpha_crown_margins(problem, intermediate=self.intermediate)

    def certified(self, problem: Problem) -> torch.Tensor:
        """Optimised only where it can change the verdict: images CROWN leaves unproven that
        are classified correctly (a wrong prediction has a negative margin at the centre,
        which no bound over the ball can lift)."""
        done = (crown_margins(problem) > 0).all(dim=1)
        todo = ~done & problem.correct
        if bool(todo.any()):
            idx = todo.nonzero()[:, 0]
            sub = _narrowed(problem, idx)
            done[idx] = (alpha_crown_margins(sub, intermediate=self.intermediate) > 0).all(dim=1)
        return done


@register
class AlphaCrownFull(AlphaCrown):
    name = "alpha-crown-full"
    order = 4
    summary = "alpha-CROWN with the hidden layers' bounds optimised too; slow"
    intermediate = True
