"""Certify images: which no perturbation in a threat model's ball (clipped to the [0, 1]
box) can misclassify, by each registered method (`lilbench/certify/methods/`), for
feed-forward chains of linear layers and registered activations (`relax/`).

Everything runs in float64, so rounding cannot turn a margin of 1e-7 into a certificate.
No maintained library does this here (ART's certifiers take ReLU only; auto_LiRPA on PyPI
needs torch < 1.13); the tests check every method against sampling, a dense grid and PGD.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lilbench.certify.chain import Chain, margin_matrix
from lilbench.certify.inputs import InputSet
from lilbench.certify.methods import METHODS, Problem, method_names
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module
from lilbench.threats import threat

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

__all__ = ["Chain", "certified", "certified_all", "margin_matrix", "margins", "problem"]


def problem(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    norm: Any = "inf",
    lo: float = 0.0,
    hi: float = 1.0,
) -> Problem:
    x64 = x.reshape(len(x), -1).double()
    return Problem(chain, x64, labels, InputSet.around(x64, eps, threat(norm), lo, hi))


def margins(
    method: str,
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    norm: Any = "inf",
    lo: float = 0.0,
    hi: float = 1.0,
) -> torch.Tensor:
    """Sound lower bounds [N, K-1] of z_y - z_j over the ball, by one method."""
    return METHODS.get(method).margins(problem(chain, x, labels, eps, norm, lo, hi))


def certified_all(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    methods: Sequence[str],
    *,
    batch_size: int = 128,
    norm: Any = "inf",
    seconds: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """Boolean [N] per method: every margin provably positive over the ball. The methods
    share each batch's work (CROWN's layer bounds serve alpha-CROWN); `seconds`, when
    given, receives each method's time, the shared work counted where it is first done
    (so loosest first, in registry order)."""
    import time

    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown certificate {m!r}; known: {', '.join(method_names())}")
    ordered = sorted(methods, key=lambda n: METHODS.get(n).order)
    out: dict[str, list[torch.Tensor]] = {m: [] for m in ordered}
    for start in range(0, len(x), batch_size):
        rows = slice(start, start + batch_size)
        batch = problem(chain, x[rows], labels[rows], eps, norm)
        for m in ordered:
            t0 = time.perf_counter()
            out[m].append(METHODS.get(m).certified(batch))
            if seconds is not None:
                seconds[m] = seconds.get(m, 0.0) + time.perf_counter() - t0
    empty = torch.zeros(0, dtype=torch.bool)
    return {m: torch.cat(v) if v else empty for m, v in out.items()}


def certified(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    method: str,
    *,
    batch_size: int = 128,
    norm: Any = "inf",
) -> torch.Tensor:
    """Boolean [N] for one method (see `certified_all`)."""
    return certified_all(chain, x, labels, eps, [method], batch_size=batch_size, norm=norm)[method]
