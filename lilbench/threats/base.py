"""What a threat model is: a norm ball around an image, intersected with the pixel box.

Everything the rest of lilbench asks of a norm is a method here (Foolbox's `LpDistance`
made the whole contract): its names and labels, distances, the projection onto ball and box,
the random start, the steepest-ascent direction, the dual norm a certificate concretises
with, uniform noise in the ball, and the default radius grids. A new norm is one file in this
folder, registered in `THREATS`; no code outside the folder compares norm strings.

Rows are flat: tensors [N, d] (or [N, m, d] where said), images in [lo, hi] (default [0, 1]).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lilbench.lazy import lazy_module
from lilbench.registry import Registry

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


class ThreatModel(ABC):
    """An Lp ball of radius eps, clipped to the [lo, hi] pixel box."""

    name: ClassVar[str]  # the registry's name: "linf", "l2", "l1"
    order: ClassVar[int]  # where it sorts in lists, tables and --help (L-inf first)
    key: ClassVar[str]  # the `norm` value in records, suites and the CLI: "inf", "2", "1"
    p: ClassVar[float]  # the norm's exponent (math.inf for L-inf)
    dual_p: ClassVar[float]  # the exponent of its dual norm (1/p + 1/q = 1)
    label: ClassVar[str]  # how tables and prose print it: "L-inf", "L2", "L1"
    prose_name: ClassVar[str]  # how report prose introduces it ("L2, the paper's own metric")
    suffix: ClassVar[str]  # appended to attack labels ("" for L-inf: labels predate norms)
    in_art: ClassVar[bool]  # ART's attacks implement it (lilbench's kernels match them)
    size_field: ClassVar[str]  # the attack point's field holding the largest perturbation
    eps_unit: ClassVar[str]  # what a radius means, for errors: "pixels", "an L2 radius", ...
    max_eps: ClassVar[float]  # the largest radius that is not the whole [0, 1] box
    verdict_eps: ClassVar[float]  # where the report's verdict compares eps sweeps (MNIST)
    default_attack_eps: ClassVar[tuple[float, ...]]  # an attack's default grid (MNIST)
    default_certify_eps: ClassVar[tuple[float, ...]]

    # --- names --------------------------------------------------------------------------

    @property
    def is_default(self) -> bool:
        """L-inf: the norm every record, label and key assumed before norms were objects."""
        return self.suffix == ""

    def describe(self, eps: float) -> str:
        return f"{self.label} eps {eps:g}"

    # --- geometry -----------------------------------------------------------------------

    def norm_of(self, v: torch.Tensor) -> torch.Tensor:
        """Row norms of v [N, ...] (float64)."""
        flat = v.reshape(len(v), -1).double()
        return torch.linalg.vector_norm(flat, ord=self.p, dim=1)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.norm_of(a - b)

    def dual_norm(self, a: torch.Tensor) -> torch.Tensor:
        """The dual norm along the last axis: max of a . delta over the unit ball."""
        return torch.linalg.vector_norm(a, ord=self.dual_p, dim=-1)

    def ball_low(
        self, a: torch.Tensor, bias: torch.Tensor, x0: torch.Tensor, eps: float
    ) -> torch.Tensor:
        """min over the ball (box dropped) of a . x + bias: a [N, m, d], bias [N, m], x0 [N, d]."""
        return bias + (a @ x0[:, :, None])[..., 0] - eps * self.dual_norm(a)

    def box_hull(
        self, x: torch.Tensor, eps: float, lo: float = 0.0, hi: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The smallest box holding ball and pixel box together: each pixel moves at most eps
        in any Lp ball (|delta_i| <= ||delta||_p)."""
        x = x.double()
        return (x - eps).clamp(lo, hi), (x + eps).clamp(lo, hi)

    @property
    def art_norm(self) -> float:
        """The `norm` argument ART's attacks take for it (2, or numpy's inf)."""
        return self.p

    @property
    def box_is_exact(self) -> bool:
        """True where the box hull is the input set itself (L-inf), so certificates need no
        second, dual-norm bound."""
        return False

    @abstractmethod
    def project(
        self, delta: torch.Tensor, x: torch.Tensor, eps: float, lo: float = 0.0, hi: float = 1.0
    ) -> torch.Tensor:
        """The perturbation in the ball, with x + delta in [lo, hi] (rows of any shape)."""

    @abstractmethod
    def ascent(self, grad: torch.Tensor) -> torch.Tensor:
        """The steepest-ascent direction of unit norm for gradient rows (sign for L-inf)."""

    @abstractmethod
    def random_start(
        self, x: torch.Tensor, eps: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A random point of ball and box around each row of x (PGD's start)."""

    @abstractmethod
    def sample_ball(
        self, shape: tuple[int, ...], eps: float, rng: np.random.Generator
    ) -> np.ndarray:
        """One perturbation drawn uniformly from the ball of radius eps (float64 numpy)."""

    def full_radius(self, d: int) -> float:
        """The radius whose ball covers the whole [0, 1] cube of d pixels (the distance
        between opposite corners): at it every attack must reach chance."""
        return float(d) ** (1.0 / self.p)

    def check_eps(self, eps: float) -> str | None:
        """Why a radius is not one of this norm's, or None."""
        if not math.isfinite(eps) or eps < 0:
            return f"{self.label} eps must be finite and >= 0 ({self.eps_unit}), got {eps!r}"
        if eps > self.max_eps:
            return (
                f"{self.label} eps must lie in [0, {self.max_eps:g}] ({self.eps_unit}), got {eps:g}"
            )
        return None


THREATS: Registry[ThreatModel] = Registry("threat model")


def register(cls: type[ThreatModel]) -> type[ThreatModel]:
    """Register one instance under the class's name (a class decorator)."""
    THREATS.register(cls.name)(cls())
    return cls
