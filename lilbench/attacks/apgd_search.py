"""The smallest L-inf (or, with norm 2, L2; norm 1, L1) perturbation APGD-CE finds per
image, by bisection over eps (L1: l1-APGD).

Per correctly classified image: APGD-CE at the grid's largest eps; where that succeeds, a
bisection on log eps between the grid's smallest eps and the smallest eps known to succeed,
`levels` times (resolution: (max / min) ** (1 / 2 ** levels)). Images whose bracket is the
same share their APGD run, so each level costs about one APGD pass over the images still
searched. The result per image is an adversarial example at its smallest successful eps
(an upper bound on its true minimal perturbation); the record holds, at each grid eps, that
example where it lies within the ball and the clean image elsewhere, so every point is an
ordinary attack result that the runner checks (within eps, [0, 1], accuracy recomputed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lilbench.attacks.apgd import apgd_examples
from lilbench.attacks.base import ATTACKS, AttackContext, EpsGridAttack, Point, option
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    from art.estimators.classification import PyTorchClassifier
else:
    torch = lazy_module("torch")


def bisect_minimal_eps(
    clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    low: float,
    high: float,
    levels: int,
    max_iter: int,
    batch_size: int,
    seed: int,
    norm: str = "inf",
) -> tuple[np.ndarray, np.ndarray]:
    """(per-image smallest eps at which APGD-CE broke it: 0 if misclassified unperturbed,
    inf if not broken at `high`; the adversarial examples found there)."""
    pred = clf.predict(x, batch_size=batch_size).argmax(1)
    best = np.where(pred == y, np.inf, 0.0)
    adv = x.copy()

    def attempt(idx: np.ndarray, eps: float) -> np.ndarray:
        """APGD-CE at eps on the images idx; records what broke; returns the broken mask."""
        found = apgd_examples(
            clf,
            x[idx],
            y[idx],
            eps=eps,
            loss="ce",
            max_iter=max_iter,
            restarts=1,
            batch_size=batch_size,
            seed=seed,
            norm=norm,
        )
        broken = clf.predict(found, batch_size=batch_size).argmax(1) != y[idx]
        better = broken & (eps < best[idx])
        best[idx[better]] = eps
        adv[idx[better]] = found[better]
        return np.asarray(broken, dtype=bool)

    todo = np.flatnonzero(pred == y)
    if len(todo):
        attempt(todo, high)
    lo = np.full(len(x), low)
    hi = best.copy()
    for _ in range(levels):
        active = np.flatnonzero(np.isfinite(hi) & (hi > lo))
        if not len(active):
            break
        mids = np.sqrt(lo[active] * hi[active])
        # Images with the same bracket share one run (brackets come from one dyadic grid).
        keys = np.round(np.log(mids), 9)
        for key in np.unique(keys):
            group = active[keys == key]
            eps = float(mids[keys == key][0])
            broken = attempt(group, eps)
            hi[group[broken]] = eps
            lo[group[~broken]] = eps
    return best, adv


@ATTACKS.register("apgd-search")
@dataclass(frozen=True, kw_only=True)
class APGDSearch(EpsGridAttack):
    """Minimal perturbation per image: bisection over eps with APGD-CE (reported on the grid)."""

    name: ClassVar[str] = "apgd-search"
    norms: ClassVar[tuple[str, ...]] = ("inf", "2", "1")
    minimal_perturbation: ClassVar[bool] = True
    eps0_applicable: ClassVar[bool] = True  # eps 0: every image keeps its clean input
    levels: int = option(6, "Bisection steps on log eps per image.")
    max_iter: int = option(100, "APGD-CE iterations per attempt.")

    def validate(self) -> APGDSearch:
        super().validate()
        if self.levels < 0 or self.max_iter < 1:
            raise ConfigError("apgd-search needs levels >= 0 and max_iter >= 1")
        if min(self.eps) <= 0:
            raise ConfigError("apgd-search bisects between the grid's smallest and largest eps > 0")
        return self

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        key = (
            self.name,
            self.norm,
            self.levels,
            self.max_iter,
            self.batch_size,
            min(self.eps),
            max(self.eps),
        )
        if key not in ctx.memo:  # one search serves every point of the grid
            ctx.memo[key] = bisect_minimal_eps(
                ctx.clf,
                ctx.x,
                ctx.y,
                low=min(self.eps),
                high=max(self.eps),
                levels=self.levels,
                max_iter=self.max_iter,
                batch_size=self.batch_size,
                seed=ctx.seed,
                norm=self.norm,
            )
        best, adv = ctx.memo[key]
        inside = (best[rows] <= point.eps)[:, None]
        out = np.where(inside, adv[rows], ctx.x[rows])
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
