"""Representation diagnostics (the paper's Figures 2 and 4, and its Section 3.2 argument).

Pure functions over a model and a data split: within-class distance distributions, isometry
errors, a 2-D map of the representation, input-gradient norms, and two Lipschitz estimates of
x -> phi(x) (sampled nearby pairs, and the spectral norm of the Jacobian at test points).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lilbench.models.functional import input_gradient
from lilbench.objectives.isometry import isometry_error

Features = Callable[[torch.Tensor], torch.Tensor]


def within_class_distances(
    x: torch.Tensor, phi: torch.Tensor, y: torch.Tensor, *, per_class: int = 300, seed: int = 0
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per class: (input distances, representation distances) over distinct pairs (i < j) of
    at most `per_class` seeded-random members."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero(as_tuple=True)[0]
        idx = idx[torch.randperm(len(idx), generator=gen)[:per_class]]
        iu = torch.triu_indices(len(idx), len(idx), offset=1)
        d_x = torch.cdist(x[idx].double(), x[idx].double())[iu[0], iu[1]]
        d_p = torch.cdist(phi[idx].double(), phi[idx].double())[iu[0], iu[1]]
        out[int(c)] = (d_x.float(), d_p.float())
    return out


def embedding_2d(phi: torch.Tensor, *, seed: int = 0) -> tuple[torch.Tensor, str]:
    """UMAP (n_neighbors=40, min_dist=0.25, as in the paper) when umap-learn is installed,
    PCA otherwise; returns the coordinates and the method's name."""
    try:
        import umap
    except ImportError:
        centred = phi.double() - phi.double().mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        return (centred @ v[:2].T).float(), "PCA"
    reducer = umap.UMAP(n_neighbors=40, min_dist=0.25, random_state=seed)
    return torch.from_numpy(reducer.fit_transform(phi.double().numpy())).float(), "UMAP"


def input_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L2 norm of d CE(model(x_i), y_i) / d x_i for every sample (summed loss: per-sample)."""
    return input_gradient(model, x, y, reduction="sum").flatten(1).norm(dim=1)


def lipschitz_sampled(
    features: Features, x: torch.Tensor, *, radius: float, pairs_per_point: int = 8, seed: int = 0
) -> float:
    """Largest ||phi(x) - phi(x')|| / ||x - x'|| with x' = x + radius * random unit direction."""
    gen = torch.Generator().manual_seed(seed)
    xs = x.repeat_interleave(pairs_per_point, 0)
    delta = torch.randn(xs.shape, generator=gen, dtype=x.dtype)
    delta = radius * delta / delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1)
    with torch.no_grad():
        ratio = (features(xs + delta) - features(xs)).flatten(1).norm(dim=1) / radius
    return float(ratio.max())


def jacobian_spectral_norms(features: Features, x: torch.Tensor) -> torch.Tensor:
    """Spectral norm (largest singular value) of the Jacobian of phi at each point of x."""
    jac = torch.func.vmap(torch.func.jacrev(lambda v: features(v[None])[0]))(x)
    return torch.linalg.matrix_norm(jac.flatten(2), ord=2)


@dataclass
class Diagnostics:
    summary: dict[str, Any]
    distances: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(repr=False)
    embedding: torch.Tensor = field(repr=False)
    labels: torch.Tensor = field(repr=False)


def diagnose(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    features: Features | None = None,
    max_points: int = 2000,
    jacobian_points: int = 100,
    seed: int = 0,
) -> Diagnostics:
    """All diagnostics on (at most max_points of) a test split."""
    model.eval()
    feats: Features = features or model.features  # type: ignore[assignment]
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(x), generator=gen)[:max_points]
    xs, ys = x[pick], y[pick]
    with torch.no_grad():
        phi = feats(xs)
    # Nearby pairs: 1% of the typical distance between inputs.
    typical = float(torch.cdist(xs[:200], xs[:200]).median())
    grad_norms = input_gradient_norms(model, xs, ys)
    jac = jacobian_spectral_norms(feats, xs[:jacobian_points]).detach()
    coords, method = embedding_2d(phi, seed=seed)
    summary = {
        "points": len(xs),
        "isometry_error_within_class": isometry_error(xs, phi, ys),
        "isometry_error_all_pairs": isometry_error(xs, phi, torch.zeros_like(ys)),
        "input_grad_norm_mean": float(grad_norms.mean()),
        "input_grad_norm_median": float(grad_norms.median()),
        "input_grad_norm_max": float(grad_norms.max()),
        "lipschitz_sampled_pairs": lipschitz_sampled(
            feats, xs[:500], radius=0.01 * typical, seed=seed
        ),
        "lipschitz_pair_radius": 0.01 * typical,
        "jacobian_spectral_norm_mean": float(jac.mean()),
        "jacobian_spectral_norm_max": float(jac.max()),
        "embedding": method,
    }
    return Diagnostics(summary, within_class_distances(xs, phi, ys, seed=seed), coords, ys)


def spectral_norm_product(model: nn.Module) -> float:
    """prod_i ||W_i||_2 over the linear layers `forward` applies: the paper's global bound on
    the network's L2 Lipschitz constant (tanh and ReLU are 1-Lipschitz)."""
    layers = getattr(model, "layers", None)
    if layers is None:
        return float("nan")
    product = 1.0
    with torch.no_grad():
        for layer in layers():
            if isinstance(layer, nn.Conv2d):  # the product of the linear layers alone is no bound
                return float("nan")
            if isinstance(layer, nn.Linear):
                product *= float(torch.linalg.matrix_norm(layer.weight.double(), ord=2))
    return product


def mechanism(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, points: int = 1000, seed: int = 0
) -> dict[str, float]:
    """What the paper's argument says isometry bounds: the loss's input gradients, the local
    Lipschitz constant of phi (sampled pairs; Jacobian spectral norms) and the global
    spectral-norm product, on `points` test images chosen by `seed`."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(x), generator=gen)[:points]
    xs, ys = x[pick], y[pick]
    feats: Features = model.features  # type: ignore[assignment]
    typical = float(torch.cdist(xs[:200], xs[:200]).median())
    grads = input_gradient_norms(model, xs, ys)
    jac = jacobian_spectral_norms(feats, xs[:100]).detach()
    return {
        "input_grad_norm_mean": float(grads.mean()),
        "lipschitz_sampled_pairs": lipschitz_sampled(
            feats, xs[:500], radius=0.01 * typical, seed=seed
        ),
        "jacobian_spectral_norm_mean": float(jac.mean()),
        "spectral_norm_product": spectral_norm_product(model),
    }


HISTOGRAM_BINS = 40  # per class, from 0 to the largest distance of either space


def inspection_values(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_points: int, seed: int
) -> dict[str, Any]:
    """`diagnose` as the JSON values a record holds and the figures are drawn from: the
    summary, per class the histograms of within-class distances (input and phi, on the same
    HISTOGRAM_BINS bins), and the 2-D map's float32 coordinates with their labels."""
    import numpy as np

    diag = diagnose(model, x, y, max_points=max_points, seed=seed)
    histograms = []
    for c in sorted(diag.distances):
        d_x, d_p = diag.distances[c]
        hi = float(max(d_x.max(), d_p.max())) if len(d_x) else 1.0
        bins = [hi * i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS + 1)]
        histograms.append(
            {
                "class": int(c),
                "hi": hi,
                "input": np.histogram(d_x.numpy(), bins=bins)[0].tolist(),
                "phi": np.histogram(d_p.numpy(), bins=bins)[0].tolist(),
            }
        )
    coords = diag.embedding.numpy().astype(np.float32)
    return {
        "summary": diag.summary,
        "histograms": histograms,
        "embedding": {
            "points": len(coords),
            "xy": coords.tobytes().hex(),
            "labels": diag.labels.numpy().astype(np.int64).tobytes().hex(),
        },
    }
