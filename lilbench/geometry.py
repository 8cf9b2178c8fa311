"""The representation's geometry as the field measures it: neural collapse (Papyan, Han &
Donoho 2020), linear CKA (Kornblith et al. 2019) and effective rank (Roy & Vetterli 2007).

Pure numpy functions of feature matrices [n, d] (rows: images) and labels; computed in
float64.
"""

from __future__ import annotations

import numpy as np


def _means(h: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes present, class means [C, d], global mean [d]: the mean of the class means,
    so that an unbalanced sample does not tilt it)."""
    classes = np.unique(y)
    mu = np.stack([h[y == c].mean(0) for c in classes])
    return classes, mu, mu.mean(0)


def nc1(h: np.ndarray, y: np.ndarray) -> float:
    """NC1 = tr(Sigma_W Sigma_B^+) / C: within-class covariance (over every image, about its
    class mean) against the class means' covariance (about their mean), pseudo-inverted.
    0 when every class is a single point."""
    h = np.asarray(h, dtype=np.float64)
    classes, mu, mu_g = _means(h, y)
    index = np.searchsorted(classes, y)
    centred = h - mu[index]
    sigma_w = centred.T @ centred / len(h)
    b = mu - mu_g
    sigma_b = b.T @ b / len(classes)
    return float(np.trace(sigma_w @ np.linalg.pinv(sigma_b, hermitian=True)) / len(classes))


def nc2(h: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(equinorm: std / mean of ||mu_c - mu_G||; equiangularity: the mean over c != c' of
    |cos(mu_c - mu_G, mu_c' - mu_G) + 1 / (C - 1)|). Both 0 for a simplex of class means."""
    h = np.asarray(h, dtype=np.float64)
    classes, mu, mu_g = _means(h, y)
    b = mu - mu_g
    norms = np.linalg.norm(b, axis=1)
    equinorm = float(norms.std() / norms.mean()) if norms.mean() > 0 else 0.0
    unit = b / np.where(norms > 0, norms, 1.0)[:, None]
    cos = unit @ unit.T
    c = len(classes)
    off = ~np.eye(c, dtype=bool)
    equiangular = float(np.abs(cos[off] + 1.0 / (c - 1)).mean()) if c > 1 else 0.0
    return equinorm, equiangular


def nc4(h: np.ndarray, y: np.ndarray, predicted: np.ndarray) -> float:
    """The share of images whose predicted class differs from the class of the nearest class
    mean (Euclidean, in feature space; means of the same images)."""
    h = np.asarray(h, dtype=np.float64)
    classes, mu, _ = _means(h, y)
    d2 = ((h[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    nearest = classes[d2.argmin(1)]
    return float((nearest != np.asarray(predicted)).mean())


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred X [n, p] and Y [n, q]:
    1 for identical representations and for rotated or isotropically scaled copies."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    # via the n x n Gram matrices when the features outnumber the images
    if x.shape[1] + y.shape[1] > 2 * len(x):
        kx, ky = x @ x.T, y @ y.T
        cross, nx, ny = (kx * ky).sum(), np.linalg.norm(kx), np.linalg.norm(ky)
    else:
        cross = np.linalg.norm(y.T @ x) ** 2
        nx, ny = np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y)
    return float(cross / (nx * ny)) if nx > 0 and ny > 0 else 0.0


def effective_rank(h: np.ndarray) -> float:
    """exp of the entropy of the normalised singular values of the centred features: d for
    an isotropic cloud in d dimensions (with many more points than d), 1 for a rank-1 one."""
    h = np.asarray(h, dtype=np.float64)
    s = np.linalg.svd(h - h.mean(0), compute_uv=False)
    s = s[s > s.max() * 1e-12] if s.size and s.max() > 0 else s[:0]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))
