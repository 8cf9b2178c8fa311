"""Persistent homology of point clouds: does phi keep the topology of each class?

For one class's test points, the Vietoris-Rips persistence diagrams in H0 and H1 (ripser) of
the inputs and of their representation phi, each cloud first divided by its scale (the mean
pairwise distance), so that the two compare whatever the size of the space; from them the
Betti numbers at a persistence threshold (features living longer than it, in those scaled
units), the most persistent H1 lifetime, and the bottleneck distance (persim) between the
input's and phi's H1 diagrams. Not computed: H2 (on 400 points in 3-D it took 41 s here,
against 0.4 s for H0 and H1 of 500 MNIST images) and the H0 bottleneck distance (persim's
matching took 72 s on the H0 diagrams of one 200-image MNIST class, where H1's takes 0.03 s).

ripser and persim are an optional extra (`pip install 'lilbench[topology]'`); `require()`
says so in one line before anything is computed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lilbench.errors import ConfigError

EXTRA = "pip install 'lilbench[topology]'"
MAXDIM = 1
THRESHOLD = 0.25  # persistence, in units of the cloud's mean pairwise distance
MAX_POINTS = 500  # per class: larger classes are subsampled (with the suite's seed)


def require() -> None:
    """One line naming the extra when ripser or persim is missing."""
    missing = [m for m in ("ripser", "persim") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the topology diagnostic needs {' and '.join(missing)}: {EXTRA} (or pip install "
            "ripser persim)"
        )


def scale(x: np.ndarray) -> float:
    """The mean pairwise Euclidean distance of the points (rows) of x."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1))) if n > 1 else 0.0


def diagrams(x: np.ndarray, *, maxdim: int = MAXDIM) -> list[np.ndarray]:
    """Persistence diagrams H0..H_maxdim of the cloud x divided by its scale; each an array
    of (birth, death) rows (the one H0 class that never dies has death = inf)."""
    import warnings

    from ripser import ripser

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    s = scale(x)
    if s == 0.0:
        raise ValueError("a point cloud of identical points has no scale")
    with warnings.catch_warnings():
        # More dimensions than points (500 MNIST images of 784 pixels) is meant, not a slip.
        warnings.filterwarnings("ignore", message="The input point cloud has more columns")
        found = ripser(x / s, maxdim=maxdim)["dgms"]
    return [np.asarray(d) for d in found]


def _finite(d: np.ndarray) -> np.ndarray:
    return d[np.isfinite(d[:, 1])] if len(d) else d.reshape(0, 2)


def betti(dgms: list[np.ndarray], threshold: float = THRESHOLD) -> list[int]:
    """Per dimension, the features that persist longer than `threshold` (infinite ones too)."""
    return [int(((d[:, 1] - d[:, 0]) > threshold).sum()) if len(d) else 0 for d in dgms]


def max_lifetime(d: np.ndarray) -> float:
    """The longest finite lifetime in a diagram (0 when it has none)."""
    f = _finite(d)
    return float((f[:, 1] - f[:, 0]).max()) if len(f) else 0.0


def bottleneck(a: np.ndarray, b: np.ndarray) -> float:
    """The bottleneck distance between two diagrams' finite points."""
    from persim import bottleneck as _bottleneck

    fa, fb = _finite(a), _finite(b)
    if not len(fa) and not len(fb):
        return 0.0
    return float(_bottleneck(fa, fb))


@dataclass(frozen=True)
class ClassTopology:
    """One class at one label level: the input cloud against phi's."""

    level: int
    label: int
    points: int
    betti_input: list[int]
    betti_phi: list[int]
    h1_input: float  # most persistent H1 lifetime, scaled units
    h1_phi: float
    bottleneck_h1: float
    diagrams_input: list[list[list[float | None]]]  # for the figure (death inf -> None)
    diagrams_phi: list[list[list[float | None]]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_list(dgms: list[np.ndarray]) -> list[list[list[float | None]]]:
    """JSON-ready diagrams: a death of infinity is None (JSON has no infinity)."""
    return [[[float(b), float(d) if np.isfinite(d) else None] for b, d in dg] for dg in dgms]


def compare(
    x: np.ndarray, phi: np.ndarray, *, level: int = 0, label: int = 0, threshold: float = THRESHOLD
) -> ClassTopology:
    """The topology of one class in input space and in phi."""
    dx, dp = diagrams(x), diagrams(phi)
    return ClassTopology(
        level=level,
        label=label,
        points=len(x),
        betti_input=betti(dx, threshold),
        betti_phi=betti(dp, threshold),
        h1_input=max_lifetime(dx[1]),
        h1_phi=max_lifetime(dp[1]),
        bottleneck_h1=bottleneck(dx[1], dp[1]),
        diagrams_input=_as_list(dx),
        diagrams_phi=_as_list(dp),
    )


def subsample(labels: np.ndarray, cls: int, *, max_points: int, seed: int) -> np.ndarray:
    """Indices of the class's points: all of them, or `max_points` drawn without replacement
    by a generator seeded with (seed, class), so each class's draw is fixed."""
    idx = np.flatnonzero(labels == cls)
    if len(idx) <= max_points:
        return idx
    rng = np.random.default_rng([seed, int(cls)])
    return np.sort(rng.choice(idx, size=max_points, replace=False))
