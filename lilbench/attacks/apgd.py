"""Auto-PGD (Croce & Hein 2020) with the CE or the DLR loss, on an eps grid: ART's algorithm
step for step in plain torch (`engine.apgd`, bit-identical to ART's on the same seed, tested),
so records made by ART's own APGD keep their keys; in L-inf and in L2 (norm 2). In L1 (norm 1)
l1-APGD (Croce & Hein 2021; `engine.sparse`): the sparse step and the large-radius schedule
of the official code's L1 run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lilbench.attacks.base import ATTACKS, AttackContext, EpsGridAttack, Point, option
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    from art.estimators.classification import PyTorchClassifier

    from lilbench.attacks.engine import apgd as engine
    from lilbench.attacks.engine import common, sparse
    from lilbench.attacks.engine.common import Trace
else:
    sparse = lazy_module("lilbench.attacks.engine.sparse")
    torch = lazy_module("torch")
    engine = lazy_module("lilbench.attacks.engine.apgd")
    common = lazy_module("lilbench.attacks.engine.common")


@ATTACKS.register("apgd")
@dataclass(frozen=True, kw_only=True)
class APGD(EpsGridAttack):
    """Auto-PGD (ART's arithmetic) with cross-entropy ("ce") or difference-of-logits-ratio
    ("dlr") loss."""

    name: ClassVar[str] = "apgd"
    norms: ClassVar[tuple[str, ...]] = ("inf", "2", "1")
    loss: str = option("ce", "Loss: ce (cross-entropy) or dlr (difference of logits ratio).")
    max_iter: int = option(100, "Iterations per start.")
    restarts: int = option(1, "Random starts (seeded).")

    def validate(self) -> APGD:
        super().validate()
        if self.loss not in ("ce", "dlr"):
            raise ConfigError(f"unknown APGD loss {self.loss!r}; known: ce, dlr")
        if self.max_iter < 1 or self.restarts < 1:
            raise ConfigError("APGD needs max_iter >= 1 and restarts >= 1")
        return self

    @property
    def label(self) -> str:
        return f"apgd-{self.loss}{self.norm_suffix}"

    @property
    def verdict_rank(self) -> int:
        return 4 if self.loss == "ce" else 0

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        if not self.threat.in_art:
            x, y = ctx.tensors(rows)
            return l1_apgd_examples(ctx.clf.model, x, y, self, eps=point.eps, seed=ctx.seed).cpu()
        trace = ctx.notes["trace"] = common.Trace(len(ctx.x[rows]))
        adv = apgd_examples(
            ctx.clf,
            ctx.x[rows],
            ctx.y[rows],
            eps=point.eps,
            loss=self.loss,
            max_iter=self.max_iter,
            restarts=self.restarts,
            batch_size=self.batch_size,
            seed=ctx.seed,
            norm=self.norm,
            trace=trace,
        )
        return torch.from_numpy(np.ascontiguousarray(adv, dtype=np.float32))


def l1_apgd_examples(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, spec: APGD, *, eps: float, seed: int
) -> torch.Tensor:
    """l1-APGD's examples: each restart on the images still robust, from its own random
    start (one seeded generator, drawn restart after restart), in batches of the spec's
    size."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    out = x.clone()
    robust = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(spec.restarts):
        idx = robust.nonzero()[:, 0]
        for lo in range(0, len(idx), spec.batch_size):
            rows = idx[lo : lo + spec.batch_size]
            adv, still = sparse.apgd_l1(
                model,
                x[rows],
                y[rows],
                spec.threat,
                eps=eps,
                iterations=spec.max_iter,
                loss=spec.loss,
                generator=gen,
            )
            out[rows] = adv
            robust[rows] = still
    return out


def apgd_examples(
    clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    loss: str,
    max_iter: int,
    restarts: int,
    batch_size: int,
    seed: int,
    norm: str,
    trace: Trace | None = None,
) -> np.ndarray:
    """APGD's adversarial examples from lilbench's engine (ART's arithmetic, bit for bit on
    the CPU, faster), in L-inf or L2."""
    return engine.apgd_arrays(
        clf.model,
        x,
        y,
        eps=eps,
        loss=loss,
        max_iter=max_iter,
        restarts=restarts,
        batch_size=batch_size,
        seed=seed,
        norm=norm,
        trace=trace,
    )
