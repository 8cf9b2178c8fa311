"""Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): the smoothed classifier
g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c), certified at an L2 radius for any model f.

CERTIFY: the top class from n0 draws, its count over n further draws, the one-sided
Clopper-Pearson lower bound pA at level alpha; abstain when pA < 1/2, else the radius is
sigma * Phi^-1(pA). PREDICT: the top two counts over n draws and a two-sided binomial test
at alpha; abstain when it cannot tell them apart. Statistics are scipy's.

Noise is drawn on the model's device, BLOCK rows at a time, from a generator seeded by
(seed, image index): the same seed gives the same counts for any batch of images, and n
copies of an image never exist at once (ART's PyTorchRandomizedSmoothing builds them all:
313 MB per MNIST image at n = 100,000). Noisy images are not clipped, as Cohen et al.
certify them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")

BLOCK = 1000  # noise rows per draw and per forward pass
ABSTAIN = -1
DEFAULT_RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class SmoothingSpec:
    sigma: float
    n0: int = 100
    n: int = 100_000
    alpha: float = 0.001
    radii: tuple[float, ...] = DEFAULT_RADII

    def validate(self) -> SmoothingSpec:
        if not (0 < self.sigma <= 10 and math.isfinite(self.sigma)):
            raise ConfigError(f"smoothing: sigma must lie in (0, 10], got {self.sigma}")
        for name in ("n0", "n"):
            v = getattr(self, name)
            if not 1 <= v <= 10**8:
                raise ConfigError(f"smoothing: {name} must lie in 1 .. 1e8, got {v}")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"smoothing: alpha must lie in (0, 0.5), got {self.alpha}")
        if not self.radii or any(not (r >= 0 and math.isfinite(r)) for r in self.radii):
            raise ConfigError("smoothing: radii are finite numbers >= 0")
        return self

    def params(self) -> dict[str, Any]:
        return {
            "method": "smoothing",
            "sigma": self.sigma,
            "n0": self.n0,
            "n": self.n,
            "alpha": self.alpha,
            "radii": list(self.radii),
        }

    @property
    def ceiling(self) -> float:
        """The largest radius n draws can certify at alpha: every draw the top class gives
        pA = alpha^(1/n) (about 3.8 sigma at n = 100,000, alpha = 0.001)."""
        return self.sigma * _norm_ppf(self.alpha ** (1.0 / self.n))


def _norm_ppf(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def lower_confidence(count: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound of a binomial proportion."""
    from scipy.stats import beta

    return 0.0 if count == 0 else float(beta.ppf(alpha, count, n - count + 1))


def generator(seed: int, index: int, device: Any) -> torch.Generator:
    """Image `index`'s own noise stream (independent of which images are smoothed with it)."""
    digest = hashlib.sha256(f"smoothing:{seed}:{index}".encode()).digest()
    gen = torch.Generator(device=device)
    gen.manual_seed(int.from_bytes(digest[:8], "big") & (2**63 - 1))
    return gen


class Noisy:
    """f(x + sigma z), z ~ N(0, I), drawn BLOCK rows at a time from a seeded generator.

    Where the model's first layer is linear on the flat input (lilbench's MLPs, read from
    `layers()` and checked against the model on the clean image), its noise is drawn where it
    lands: W z ~ N(0, W W^T) = L u, L the Cholesky factor of W W^T and u ~ N(0, I_width). The
    same distribution, so the same certificate, from width normals per draw instead of d
    (100 instead of 784 on MNIST) and a width x width product instead of width x d."""

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        self.model, self.first, self.rest, self.chol = model, None, None, None
        layers = getattr(model, "layers", None)
        mods = list(layers()) if callable(layers) else []
        if mods and isinstance(mods[0], torch.nn.Linear) and mods[0].in_features == x.numel():
            first, rest = mods[0], torch.nn.Sequential(*mods[1:])
            with torch.no_grad():
                same = torch.allclose(rest(first(x.reshape(1, -1))), model(x.reshape(1, -1)))
                w = first.weight.detach().double()
                gram = w @ w.T
            if same and bool(torch.linalg.eigvalsh(gram).min() > 1e-10 * gram.diagonal().max()):
                self.first, self.rest = first, rest
                self.chol = torch.linalg.cholesky(gram).to(x.dtype)

    def predict(self, x: torch.Tensor, b: int, sigma: float, gen: torch.Generator) -> torch.Tensor:
        """The model's classes on b noisy copies of x (one flat image)."""
        flat = x.reshape(1, -1)
        if self.chol is None:
            noise = torch.randn((b, x.numel()), generator=gen, device=x.device, dtype=x.dtype)
            return self.model(flat + sigma * noise).argmax(1)
        assert self.first is not None and self.rest is not None
        u = torch.randn((b, self.chol.shape[0]), generator=gen, device=x.device, dtype=x.dtype)
        return self.rest(self.first(flat) + sigma * (u @ self.chol.T)).argmax(1)


def counts(
    model: nn.Module | Noisy,
    x: torch.Tensor,
    num: int,
    sigma: float,
    gen: torch.Generator,
    classes: int,
) -> np.ndarray:
    """Class counts of f(x + noise) over `num` draws (x: one flat image on the device)."""
    noisy = model if isinstance(model, Noisy) else Noisy(model, x)
    out = torch.zeros(classes, dtype=torch.int64, device=x.device)
    left = num
    with torch.no_grad():
        while left > 0:
            b = min(BLOCK, left)
            out += torch.bincount(noisy.predict(x, b, sigma, gen), minlength=classes)
            left -= b
    return out.cpu().numpy()


def certify_one(
    model: nn.Module | Noisy,
    x: torch.Tensor,
    spec: SmoothingSpec,
    gen: torch.Generator,
    classes: int,
) -> tuple[int, float]:
    """Cohen's CERTIFY: (class, L2 radius) or (ABSTAIN, 0)."""
    model = model if isinstance(model, Noisy) else Noisy(model, x)
    top = int(np.argmax(counts(model, x, spec.n0, spec.sigma, gen, classes)))
    n_a = int(counts(model, x, spec.n, spec.sigma, gen, classes)[top])
    p_a = lower_confidence(n_a, spec.n, spec.alpha)
    if p_a < 0.5:
        return ABSTAIN, 0.0
    return top, spec.sigma * _norm_ppf(p_a)


def predict_one(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float,
    n: int,
    alpha: float,
    gen: torch.Generator,
    classes: int,
) -> int:
    """Cohen's PREDICT: the top class, or ABSTAIN when a binomial test at alpha cannot tell
    it from the runner-up."""
    from scipy.stats import binomtest

    c = counts(model, x, n, sigma, gen, classes)
    order = np.argsort(-c, kind="stable")
    n_a, n_b = int(c[order[0]]), int(c[order[1]]) if classes > 1 else 0
    if binomtest(n_a, n_a + n_b, 0.5).pvalue > alpha:
        return ABSTAIN
    return int(order[0])


@dataclass
class Smoothed:
    """Per image: the smoothed prediction (ABSTAIN: -1) and certified L2 radius."""

    predictions: list[int]
    radii: list[float]
    labels: list[int]
    checks: list[dict[str, Any]] = field(default_factory=list)

    def certified(self, r: float) -> int:
        return sum(
            p == y and rad >= r
            for p, rad, y in zip(self.predictions, self.radii, self.labels, strict=True)
        )

    @property
    def abstained(self) -> int:
        return sum(p == ABSTAIN for p in self.predictions)

    @property
    def average_radius(self) -> float:
        """ACR: the mean over images of the radius where correct, 0 elsewhere."""
        n = max(1, len(self.labels))
        return (
            sum(
                rad if p == y else 0.0
                for p, rad, y in zip(self.predictions, self.radii, self.labels, strict=True)
            )
            / n
        )


def smooth_certify(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    spec: SmoothingSpec,
    *,
    seed: int,
    classes: int,
    device: Any = "cpu",
    first_index: int = 0,
) -> Smoothed:
    """CERTIFY on every row of x (flat images)."""
    model = model.to(device).eval()
    preds, radii = [], []
    noisy = Noisy(model, x[0].to(device)) if len(x) else model
    for i in range(len(x)):
        gen = generator(seed, first_index + i, device)
        p, r = certify_one(noisy, x[i].to(device), spec, gen, classes)
        preds.append(p)
        radii.append(r)
    return Smoothed(preds, radii, [int(v) for v in y])


def smoothadv(
    model: nn.Module,
    x: torch.Tensor,
    label: int,
    radius: float,
    spec: SmoothingSpec,
    gen: torch.Generator,
    *,
    steps: int = 20,
    draws: int = 32,
) -> torch.Tensor:
    """SmoothAdv's PGD (Salman et al. 2019) on the smoothed classifier, in the L2 ball of
    `radius` around x: ascend -log of the label's mean softmax over `draws` noise draws
    (Monte-Carlo gradient), normalised L2 steps of 2 radius / steps, projected each step."""
    delta = torch.zeros_like(x)
    step = 2.0 * radius / steps
    for _ in range(steps):
        delta.requires_grad_(True)
        noise = torch.randn((draws, x.numel()), generator=gen, device=x.device, dtype=x.dtype)
        probs = torch.softmax(model((x + delta).reshape(1, -1) + spec.sigma * noise), 1).mean(0)
        (grad,) = torch.autograd.grad(-torch.log(probs[label] + 1e-12), delta)
        with torch.no_grad():
            delta = delta + step * grad / grad.norm().clamp_min(1e-12)
            delta = delta * min(1.0, radius / max(float(delta.norm()), 1e-12))
    return (x + delta).detach()


def check(
    model: nn.Module,
    x: torch.Tensor,
    sm: Smoothed,
    spec: SmoothingSpec,
    *,
    seed: int,
    classes: int,
    device: Any = "cpu",
    attacked: int = 20,
) -> list[dict[str, Any]]:
    """The checks a smoothing record carries; each can fail."""
    from scipy.stats import binom

    ceiling = spec.ceiling
    out = [
        {
            "name": "radii within the ceiling",
            "passed": all(r <= ceiling + 1e-9 for r in sm.radii),
            "detail": f"no radius above sigma Phi^-1(alpha^(1/n)) = {ceiling:.4f}",
        },
        {
            "name": "abstentions are not scored",
            "passed": all(
                r == 0.0 for p, r in zip(sm.predictions, sm.radii, strict=True) if p == ABSTAIN
            ),
            "detail": f"{sm.abstained} abstention(s), each radius 0 and counted as not certified",
        },
    ]
    if len(x):
        again = certify_one(model, x[0].to(device), spec, generator(seed, 0, device), classes)
        out.append(
            {
                "name": "deterministic",
                "passed": again == (sm.predictions[0], sm.radii[0]),
                "detail": "image 0 certified again from its seed gives the same class and radius",
            }
        )
    chosen = [
        i
        for i, (p, r, y) in enumerate(zip(sm.predictions, sm.radii, sm.labels, strict=True))
        if p == y and r > 0
    ][:attacked]
    broken = 0
    for i in chosen:
        gen = generator(seed + 7919, i, device)  # a stream apart from CERTIFY's
        adv = smoothadv(model, x[i].to(device), sm.labels[i], sm.radii[i], spec, gen)
        pred = predict_one(model, adv, spec.sigma, spec.n, spec.alpha, gen, classes)
        broken += pred not in (sm.labels[i], ABSTAIN)
    # each certificate (and each PREDICT) is wrong with probability at most alpha
    allowed = int(binom.ppf(1 - 1e-3, len(chosen), min(1.0, 2 * spec.alpha))) if chosen else 0
    out.append(
        {
            "name": "certified images hold under SmoothAdv",
            "passed": broken <= allowed,
            "detail": f"{broken} of {len(chosen)} certified images attacked within their radius "
            f"were predicted wrong (at most {allowed} allowed at alpha {spec.alpha:g})",
            "tried": len(chosen),
        }
    )
    return out
