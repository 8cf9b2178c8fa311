"""CIFAR-10-C's 15 corruptions of colour images: each one against its formula on a small
image, and the set's contract (published order, severities 1-5, identity at 0, seeded per
image, values in [0, 1])."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
from scipy import ndimage

from lilbench.data.corruptions import CORRUPTION_SETS, corrupt
from lilbench.data.corruptions import cifar10_c as c10
from lilbench.data.corruptions.ops import plasma
from lilbench.data.noise import CorruptionSpec
from lilbench.errors import ConfigError

CSET = CORRUPTION_SETS.get("cifar10-c")
H, W = 16, 20
SHAPE = (3, H, W)


def _images(n: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth colour images in [0.1, 0.9] (no clipping at small changes), (n, H, W, 3)."""
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((n, H, W, 3)), (0, 2, 2, 0))
    img = (img - img.min()) / (img.max() - img.min())
    return 0.1 + 0.8 * img


def _rows(img: np.ndarray) -> np.ndarray:
    return img.transpose(0, 3, 1, 2).reshape(len(img), -1).astype(np.float32)


def _hwc(rows: np.ndarray) -> np.ndarray:
    return rows.reshape(len(rows), 3, H, W).transpose(0, 2, 3, 1).astype(np.float64)


def _run(img: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    out = corrupt(_rows(img), name, seed=seed, shape=SHAPE, severity=severity, set_name="cifar10-c")
    return _hwc(out)


def _rng(name: str, seed: int, index: int) -> np.random.Generator:
    """The generator `corrupt` hands image `index` (seeded by the seed, name and index)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), index])


def _table(name: str) -> list:  # type: ignore[type-arg]
    return CSET.get(name).table  # type: ignore[attr-defined,no-any-return]


PUBLISHED = [
    "gaussian-noise", "shot-noise", "impulse-noise", "defocus-blur", "glass-blur",
    "motion-blur", "zoom-blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic-transform", "pixelate", "jpeg-compression",
]  # fmt: skip


def test_the_set_holds_the_15_in_the_published_order_and_fits_colour_data() -> None:
    assert list(CSET.names) == PUBLISHED and CSET.channels == 3
    assert CorruptionSpec.from_value(True, channels=3).set_name == "cifar10-c"
    with pytest.raises(ConfigError, match="severities are 1, 2, 3, 4 and 5"):
        CorruptionSpec.from_value({"severity": 2.5}, channels=3)
    with pytest.raises(ConfigError, match="did you mean 'gaussian-noise'"):
        CorruptionSpec.from_value({"names": ["gaussian-nois"]}, channels=3)


@pytest.mark.parametrize("name", PUBLISHED)
def test_each_corruption_is_seeded_per_image_in_range_and_the_identity_at_0(name: str) -> None:
    img = _images(4)
    rows = _rows(img)
    out = corrupt(rows, name, seed=5, shape=SHAPE, severity=3, set_name="cifar10-c")
    again = corrupt(rows, name, seed=5, shape=SHAPE, severity=3, set_name="cifar10-c")
    alone = corrupt(
        rows[2:3], name, seed=5, shape=SHAPE, severity=3, set_name="cifar10-c", first_index=2
    )
    assert np.array_equal(out, again) and np.array_equal(out[2:3], alone)
    assert out.min() >= 0 and out.max() <= 1 and not np.array_equal(out, rows)
    zero = corrupt(rows, name, seed=5, shape=SHAPE, severity=0, set_name="cifar10-c")
    assert np.array_equal(zero, rows)


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("gaussian-noise", lambda x, r, c: x + r.normal(0.0, c, x.shape)),
        ("shot-noise", lambda x, r, c: r.poisson(x * c) / c),
    ],
)
def test_noises_are_their_formulas_under_the_images_own_generator(name: str, draw) -> None:  # type: ignore[no-untyped-def]
    img = _images(2)
    for severity in (1, 5):
        c = _table(name)[severity - 1]
        out = _run(img, name, severity, seed=7)
        for i in range(2):
            want = np.clip(draw(img[i], _rng(name, 7, i), c), 0, 1)
            assert np.allclose(out[i], want, atol=1e-6)


def test_impulse_noise_hits_the_published_share_of_values() -> None:
    img = np.full((1, H, W, 3), 0.5)
    big = np.full((1, 3, 100, 100), 0.5, dtype=np.float32).reshape(1, -1)
    for severity, share in enumerate(_table("impulse-noise"), start=1):
        out = corrupt(
            big,
            "impulse-noise",
            seed=0,
            shape=(3, 100, 100),
            severity=severity,
            set_name="cifar10-c",
        )
        hit = out != 0.5
        assert abs(hit.mean() - share) < 4 * np.sqrt(share / hit.size) + 1e-3
        assert set(np.unique(out[hit])) <= {0.0, 1.0}
    assert np.array_equal(
        _run(img, "impulse-noise", 1)[0] != 0.5, _run(img, "impulse-noise", 1)[0] != 0.5
    )


def test_contrast_and_brightness_are_their_formulas() -> None:
    from skimage import color

    img = _images(2)
    for severity in (1, 5):
        c = _table("contrast")[severity - 1]
        m = img.mean(axis=(1, 2), keepdims=True)
        assert np.allclose(_run(img, "contrast", severity), (img - m) * c + m, atol=1e-6)
        b = _table("brightness")[severity - 1]
        hsv = color.rgb2hsv(img[0])
        hsv[..., 2] = np.clip(hsv[..., 2] + b, 0, 1)
        assert np.allclose(_run(img, "brightness", severity)[0], color.hsv2rgb(hsv), atol=1e-6)


def test_defocus_kernel_is_the_antialiased_disk() -> None:
    for radius, blur in _table("defocus-blur"):
        k = c10.disk(radius, blur)
        assert k.shape == (17, 17) and np.isclose(k.sum(), 1) and np.allclose(k, k.T)
        assert np.allclose(k, k[::-1, ::-1])
    # radius 0.3: the disk is the centre pixel, so the kernel is the 3 x 3 Gaussian's outer
    # product (OpenCV's taps: exp(-i^2 / (2 sigma^2)), i = -1, 0, 1, normalised)
    t = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.4**2))
    t /= t.sum()
    want = np.zeros((17, 17))
    want[7:10, 7:10] = np.outer(t, t)
    assert np.allclose(c10.disk(0.3, 0.4), want)
    flat = np.full((1, H, W, 3), 0.4)
    assert np.allclose(_run(flat, "defocus-blur", 5), 0.4, atol=1e-6)


def test_glass_blur_swaps_are_a_local_permutation_in_the_published_order() -> None:
    rng = np.random.default_rng(0)
    h, w, delta = 9, 11, 1
    offsets = rng.integers(-delta, delta, size=(2, (h - 2) * (w - 2), 2))
    where = np.arange(h * w).reshape(h, w)
    c10._swaps(where, offsets, delta)
    # a reference loop, written from the published generator's description
    ref = np.arange(h * w).reshape(h, w)
    for p in range(2):
        k = 0
        for r in range(h - delta, delta, -1):
            for q in range(w - delta, delta, -1):
                dx, dy = offsets[p, k]
                k += 1
                ref[r, q], ref[r + dy, q + dx] = ref[r + dy, q + dx], ref[r, q]
    assert np.array_equal(where, ref)
    assert sorted(where.reshape(-1)) == list(range(h * w)) and not np.array_equal(
        where, np.arange(h * w).reshape(h, w)
    )
    assert np.array_equal(where[0], np.arange(w))  # row 0 is never visited, only reached


def test_motion_blur_is_a_one_sided_gaussian_along_the_angle() -> None:
    k = c10.motion_kernel(6, 2.0)
    assert len(k) == 13 and np.isclose(k.sum(), 1) and np.all(np.diff(k) < 0)
    img = _images(1)[0]
    out = c10.motion(img, 6, 2.0, 0.0)  # angle 0: copies shifted back along the columns
    cols = np.arange(W)
    want = sum(k[i] * img[:, np.minimum(cols + i, W - 1)] for i in range(13))
    assert np.allclose(out, want)
    flat = np.full((1, H, W, 3), 0.3)
    assert np.allclose(_run(flat, "motion-blur", 5), 0.3, atol=1e-6)


def test_zoom_blur_and_elastic_keep_a_constant_image_and_zoom_1_is_the_identity() -> None:
    img = _images(1)[0]
    assert np.allclose(c10.clipped_zoom(img, 1.0), img)
    flat = np.full((1, H, W, 3), 0.6)
    for name in ("zoom-blur", "elastic-transform", "pixelate"):
        assert np.allclose(_run(flat, name, 5), 0.6, atol=1.5 / 255), name
    # the affine step with its points unmoved is the identity; moved, it is the map
    src = np.array([[10.0, 4.0], [12.0, 15.0], [3.0, 7.0]])
    assert np.allclose(c10._affine(img, src, src), img, atol=1e-9)
    shifted = c10._affine(img, src, src + np.array([2.0, 0.0]))  # (x, y): 2 columns right
    assert np.allclose(shifted[:, 2:], img[:, :-2], atol=1e-9)


def test_fog_frost_and_snow_are_their_formulas() -> None:
    img = _images(1)
    for severity in (1, 5):
        a, decay = _table("fog")[severity - 1]
        top = img[0].max()
        layer = plasma(32, _rng("fog", 0, 0), decay)[:H, :W, None]
        want = np.clip((img[0] + a * layer) * top / (top + a), 0, 1)
        assert np.allclose(_run(img, "fog", severity)[0], want, atol=1e-6)
        c0, c1 = _table("frost")[severity - 1]
        ice = c10.ice(H, W, _rng("frost", 0, 0))
        assert ice.min() >= 0 and ice.max() <= 1
        assert np.allclose(
            _run(img, "frost", severity)[0], np.clip(c0 * img[0] + c1 * ice, 0, 1), atol=1e-6
        )
        c = _table("snow")[severity - 1]
        whitened = c[6] * img[0] + (1 - c[6]) * np.maximum(
            img[0], c10.grey(img[0])[..., None] * 1.5 + 0.5
        )
        assert np.all(_run(img, "snow", severity)[0] >= np.minimum(whitened, 1) - 1e-6)


def test_pixelate_and_jpeg_follow_the_published_levels() -> None:
    img = _images(1)
    errs = [float(np.abs(_run(img, "jpeg-compression", s) - img).mean()) for s in range(1, 6)]
    assert 0 < errs[0] < errs[-1], errs  # quality 80 .. 40 (not monotone on a 16 x 20 image)
    pix = [float(np.abs(_run(img, "pixelate", s) - img).mean()) for s in range(1, 6)]
    assert all(a < b for a, b in itertools.pairwise(pix)), pix  # 0.95 .. 0.65 of a side
