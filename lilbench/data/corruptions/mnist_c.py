"""MNIST-C (Mu & Gilmer 2019): 15 corruptions of grey images, written here from the paper's
descriptions and its generator's published settings, for (H, W) images in [0, 1].

Severity 1 is the published setting (MNIST-C uses one severity per corruption); 0 is the
identity, and a larger severity moves the image further:
- where the corruption has a natural strength (a noise rate, a blur's sigma, an angle, a
  shift, a brightness step, a fog amplitude), severity scales that strength;
- where it has none, or where a smaller strength would not move the image smoothly (glass
  blur, stripe, spatter, dotted line, zigzag, canny edges), the corrupted image is blended
  in: x + severity * (C(x) - x), clipped to [0, 1].

Image operations are scipy.ndimage's (affine maps, shifts, Gaussian filters: well kept and
already a dependency) and scikit-image's Canny detector (the reference implementation of
Canny's algorithm, as MNIST-C used); the rest is a few lines of numpy each.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from lilbench.data.corruptions.base import CorruptionSet, register_set
from lilbench.data.corruptions.ops import plasma

MNIST_C = register_set(
    CorruptionSet(
        "mnist-c",
        "MNIST-C",
        channels=1,
        reference="Mu & Gilmer 2019, arXiv:1906.02337",
        provenance="Written from Mu & Gilmer (2019) at the generator's published settings "
        "(severity 1)",
    )
)


def _ndimage():  # type: ignore[no-untyped-def]
    from scipy import ndimage

    return ndimage


def _blend(x: np.ndarray, corrupted: np.ndarray, severity: float) -> np.ndarray:
    return np.clip(x + severity * (corrupted - x), 0.0, 1.0)


def _affine(x: np.ndarray, matrix: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """Output pixel p takes the input at matrix @ (p - c) + c + shift (c: the image centre),
    bilinear, zero outside."""
    c = (np.array(x.shape, dtype=np.float64) - 1) / 2
    offset = c - matrix @ c + (0 if shift is None else shift)
    out = _ndimage().affine_transform(x, matrix, offset=offset, order=1, cval=0.0)
    return np.clip(out, 0.0, 1.0)


@MNIST_C.corruption("shot-noise")
def shot_noise(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """Poisson noise: each pixel becomes Poisson(x * lam) / lam, lam = 3 / severity (photon
    counts; a smaller lam is noisier)."""
    if severity == 0:
        return x.copy()
    lam = 3.0 / severity
    return np.clip(rng.poisson(x * lam) / lam, 0.0, 1.0)


@MNIST_C.corruption("impulse-noise")
def impulse_noise(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """Salt and pepper: a share 0.17 * severity of the pixels set to 0 or 1 at random."""
    hit = rng.random(x.shape) < min(1.0, 0.17 * severity)
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float64), x)


@MNIST_C.corruption("glass-blur")
def glass_blur(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """Gaussian blur (sigma 0.7), two passes of swapping each pixel with a random neighbour
    at most 1 pixel away, and the blur again (frosted glass); blended in by severity (a
    swap is all or nothing, so scaling its strength would not grow smoothly)."""
    nd = _ndimage()
    out = nd.gaussian_filter(x, 0.7, mode="constant")
    h, w = out.shape
    offsets = rng.integers(-1, 2, size=(2, (h - 2) * (w - 2), 2))
    _swap_pass(out, offsets, 1)
    return _blend(x, nd.gaussian_filter(out, 0.7, mode="constant"), severity)


def _swap_kernel():  # type: ignore[no-untyped-def]
    import numba

    @numba.njit(cache=True)
    def run(img, offsets, delta):  # type: ignore[no-untyped-def]
        h, w = img.shape
        for p in range(offsets.shape[0]):
            k = 0
            for i in range(h - delta - 1, delta - 1, -1):
                for j in range(w - delta - 1, delta - 1, -1):
                    a, b = i + offsets[p, k, 0], j + offsets[p, k, 1]
                    img[i, j], img[a, b] = img[a, b], img[i, j]
                    k += 1

    return run


_SWAP: list[Callable[..., None]] = []


def _swap_pass(img: np.ndarray, offsets: np.ndarray, delta: int) -> None:
    """Glass blur's passes: pixel (i, j), from the bottom right, swapped with its neighbour
    at the drawn offset (a compiled loop: a Python one costs 14 ms an image)."""
    if not _SWAP:
        _SWAP.append(_swap_kernel())
    _SWAP[0](img, offsets, delta)


@MNIST_C.corruption("motion-blur")
def motion_blur(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """The image smeared along a random direction (angle uniform in [-45, 45] degrees): a
    weighted sum of copies shifted 0 .. 10 * severity pixels, Gaussian weights of sigma
    3 * severity."""
    angle = math.radians(rng.uniform(-45, 45))
    if severity == 0:
        return x.copy()
    radius, sigma = 10.0 * severity, 3.0 * severity
    steps = np.arange(0, math.floor(radius) + 1, dtype=np.float64)
    weights = np.exp(-(steps**2) / (2 * sigma**2))
    weights /= weights.sum()
    direction = np.array([math.sin(angle), math.cos(angle)])
    nd = _ndimage()
    out = np.zeros_like(x)
    for k, wgt in zip(steps, weights, strict=True):
        out += wgt * nd.shift(x, k * direction, order=1, cval=0.0)
    return np.clip(out, 0.0, 1.0)


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


@MNIST_C.corruption("shear")
def shear(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """A horizontal shear of 0.4 * severity (random sign) about the image centre."""
    s = 0.4 * severity * _sign(rng)
    return _affine(x, np.array([[1.0, 0.0], [s, 1.0]]))


@MNIST_C.corruption("scale")
def scale(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """The image shrunk about its centre to 0.7 of its size at severity 1 (factor
    1 - 0.3 * severity, at least 0.1)."""
    factor = max(0.1, 1.0 - 0.3 * severity)
    return _affine(x, np.eye(2) / factor)


@MNIST_C.corruption("rotate")
def rotate(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """A rotation by 0.4 * severity radians (about 23 degrees; random sign) about the centre."""
    t = 0.4 * severity * _sign(rng)
    c, s = math.cos(t), math.sin(t)
    return _affine(x, np.array([[c, -s], [s, c]]))


@MNIST_C.corruption("brightness")
def brightness(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """Every pixel brighter by 0.5 * severity, clipped."""
    return np.clip(x + 0.5 * severity, 0.0, 1.0)


@MNIST_C.corruption("translate")
def translate(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """A shift of 3 * severity pixels along each axis, each with a random sign."""
    shift = 3.0 * severity * np.array([_sign(rng), _sign(rng)])
    return np.clip(_ndimage().shift(x, shift, order=1, cval=0.0), 0.0, 1.0)


@MNIST_C.corruption("stripe")
def stripe(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """The outer quarter columns inverted (0-6 and 21-27 on 28 pixels)."""
    out = x.copy()
    w = x.shape[1]
    band = w // 4
    out[:, :band] = 1 - x[:, :band]
    out[:, w - band :] = 1 - x[:, w - band :]
    return _blend(x, out, severity)


@MNIST_C.corruption("fog")
def fog(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """A plasma fractal of amplitude 3.0 * severity (decay 1.4) added, and the result scaled
    back so that the image's brightest pixel keeps its value."""
    size = 1 << max(1, math.ceil(math.log2(max(x.shape))))
    fractal = plasma(size, rng, 1.4)[: x.shape[0], : x.shape[1]]
    amp = 3.0 * severity
    top = float(x.max())
    return np.clip((x + amp * fractal) * top / (top + amp) if top > 0 else x, 0.0, 1.0)


@MNIST_C.corruption("spatter")
def spatter(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """Mud splashes: Gaussian noise (mean 0.65, sd 0.3) blurred (sigma 1), kept above 0.65,
    the blobs' mask blurred (sigma 1.5) and cut below 0.8, painted in grey 63/255."""
    nd = _ndimage()
    liquid = nd.gaussian_filter(rng.normal(0.65, 0.3, x.shape), 1.0)
    mask = nd.gaussian_filter((liquid > 0.65).astype(np.float64), 1.5)
    mask[mask < 0.8] = 0.0
    out = x * (1 - mask) + (63 / 255) * mask
    return _blend(x, out, severity)


def _stroke(shape: tuple[int, int], points: np.ndarray, width: float) -> np.ndarray:
    """A polyline through `points` (row, col), anti-aliased: intensity falls from 1 on the
    line to 0 at half the width plus half a pixel."""
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    dist = np.full(shape, np.inf)
    for p, q in itertools.pairwise(points):
        d = q - p
        length2 = float(d @ d) or 1.0
        t = np.clip(((rr - p[0]) * d[0] + (cc - p[1]) * d[1]) / length2, 0, 1)
        dist = np.minimum(dist, np.hypot(rr - p[0] - t * d[0], cc - p[1] - t * d[1]))
    return np.clip(width / 2 + 0.5 - dist, 0.0, 1.0)


def _across(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two random points on opposite borders (left-right or top-bottom)."""
    h, w = shape
    if rng.random() < 0.5:
        return np.array([rng.uniform(0, h - 1), 0.0]), np.array([rng.uniform(0, h - 1), w - 1.0])
    return np.array([0.0, rng.uniform(0, w - 1)]), np.array([h - 1.0, rng.uniform(0, w - 1)])


@MNIST_C.corruption("dotted-line")
def dotted_line(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """A dotted line (width 2.3, dots of 2 pixels every 4) across the image, drawn over it."""
    start, end = _across(rng, x.shape)
    n = max(2, round(float(np.hypot(*(end - start)))))
    line = np.zeros_like(x)
    for k in range(0, n, 4):
        a = start + (end - start) * k / n
        b = start + (end - start) * min(k + 2, n) / n
        line = np.maximum(line, _stroke(x.shape, np.stack([a, b]), 2.3))
    return _blend(x, np.maximum(x, line), severity)


@MNIST_C.corruption("zigzag")
def zigzag(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """A zigzag line (width 2.3) across the image: 2 to 4 segments whose corners alternate
    2 pixels either side of the straight line, drawn over it."""
    start, end = _across(rng, x.shape)
    segments = int(rng.integers(2, 5))
    d = end - start
    normal = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1.0)
    pts = [start + d * k / segments + normal * (2.0 if k % 2 else -2.0) for k in range(1, segments)]
    line = _stroke(x.shape, np.stack([start, *pts, end]), 2.3)
    return _blend(x, np.maximum(x, line), severity)


@MNIST_C.corruption("canny-edges")
def canny_edges(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
    """The image replaced by its Canny edges (scikit-image's defaults: sigma 1)."""
    from skimage.feature import canny

    return _blend(x, canny(x).astype(np.float64), severity)
