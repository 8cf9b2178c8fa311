"""Auto-PGD (Croce & Hein 2020) with the CE or the DLR loss, on an eps grid: ART's algorithm
step for step in plain torch (`kernels.apgd`, bit-identical to ART's on the same seed, tested),
so records made by ART's own APGD keep their keys; in L-inf and in L2 (norm 2). In L1 (norm 1)
l1-APGD (Croce & Hein 2021; `kernels.sparse`): the sparse step and the large-radius schedule
of the official code's L1 run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lilbench.attacks.base import ATTACKS, AttackContext, EpsGridAttack, Point, option
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module
from lilbench.threats import threat as spec_threat

if TYPE_CHECKING:
    import torch
    from art.estimators.classification import PyTorchClassifier

    from lilbench.attacks.kernels import apgd as kernels
    from lilbench.attacks.kernels import common, sparse
    from lilbench.attacks.kernels.common import Trace
else:
    sparse = lazy_module("lilbench.attacks.kernels.sparse")
    torch = lazy_module("torch")
    kernels = lazy_module("lilbench.attacks.kernels.apgd")
    common = lazy_module("lilbench.attacks.kernels.common")


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
        # the iterates are traced for the indicators where the kernel is ART's arithmetic
        trace = common.Trace(len(ctx.x[rows])) if self.threat.in_art else None
        if trace is not None:
            ctx.notes["trace"] = trace
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


def sparse_apgd_examples(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    loss: str,
    max_iter: int,
    restarts: int,
    batch_size: int,
    seed: int,
    norm: str,
) -> torch.Tensor:
    """APGD in a norm ART lacks (l1-APGD, `kernels.sparse`): each restart on the images
    still robust, from its own random start (one seeded generator, drawn restart after
    restart), in batches of `batch_size`."""
    threat = spec_threat(norm)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    out = x.clone()
    robust = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        idx = robust.nonzero()[:, 0]
        for lo in range(0, len(idx), batch_size):
            rows = idx[lo : lo + batch_size]
            adv, still = sparse.apgd_l1(
                model,
                x[rows],
                y[rows],
                threat,
                eps=eps,
                iterations=max_iter,
                loss=loss,
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
    """APGD's adversarial examples from lilbench's kernels (ART's arithmetic, bit for bit on
    the CPU, faster) in L-inf or L2; in a norm ART lacks, the sparse kernel's."""
    if not spec_threat(norm).in_art:
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(clf.device)
        yt = torch.from_numpy(np.asarray(y)).to(clf.device)
        found = sparse_apgd_examples(
            clf.model,
            xt,
            yt,
            eps=eps,
            loss=loss,
            max_iter=max_iter,
            restarts=restarts,
            batch_size=batch_size,
            seed=seed,
            norm=norm,
        )
        return np.ascontiguousarray(found.cpu().numpy(), dtype=np.float32)
    return kernels.apgd_arrays(
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
