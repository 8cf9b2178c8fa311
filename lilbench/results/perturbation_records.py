"""Accuracy under random noise and common corruptions, per model, with per-image bits and
checks, cached like every record (keyed by the weights, the data set, the settings, the
number of test images and the seed: `diagnostic_records`).

Under noise an image has two scores over the draws: correct under *every* draw (the
stricter, as a robust image is correct under every attack) and the share of draws it is
correct under (whose mean is the expected accuracy under the noise); the records keep the
second per image (the first follows from it) and reports show both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lilbench.attacks.checks import pack_mask, unpack_mask
from lilbench.data import Dataset
from lilbench.data.corruptions import DEFAULT_SET, corrupt
from lilbench.data.noise import GAUSSIAN, CorruptionSpec, NoiseSpec, noise_size, noisy
from lilbench.lazy import lazy_module
from lilbench.results.diagnostic_records import ensure_diagnostic, find_diagnostic
from lilbench.training.checkpoint import Checkpoint

torch = lazy_module("torch")

CHECK_ROWS = 8  # images recomputed by the determinism and identity checks


def _predict(model: Any, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch]))).argmax(1))
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, dtype=np.int64)


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail}


def _split(data: Dataset, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    n = len(data.y_test) if limit is None else min(limit, len(data.y_test))
    return data.x_test[:n].numpy(), data.y_test[:n].numpy()


def _counts_hex(counts: np.ndarray) -> str:
    return counts.astype(np.uint8).tobytes().hex()


def counts_of(hex_counts: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(hex_counts), dtype=np.uint8).astype(np.int64)


def noise_values(
    model: Any, data: Dataset, spec: NoiseSpec, *, limit: int | None, seed: int
) -> dict[str, Any]:
    """Accuracy under each noise point (every draw evaluated), and the checks."""
    x, y = _split(data, limit)
    clean = _predict(model, x) == y
    points: list[dict[str, Any]] = []
    checks = []
    zero = _predict(model, noisy(x, GAUSSIAN, 0.0, seed=seed, draw=0)) == y
    checks.append(
        _check(
            "noise 0 is clean",
            bool((zero == clean).all()),
            f"noise of level 0 leaves {int(zero.sum())}/{len(y)} correct, as clean",
        )
    )
    in_range, within = True, True
    for kind, level in spec.points():
        counts = np.zeros(len(y), dtype=np.int64)
        for draw in range(spec.draws):
            xn = noisy(x, kind, level, seed=seed, draw=draw)
            in_range &= bool(xn.min() >= 0 and xn.max() <= 1)
            d = xn.astype(np.float64) - x
            size = noise_size(kind, d)
            if size is not None:
                within &= bool((size <= level * (1 + 1e-6) + 1e-6).all())
            counts += _predict(model, xn) == y
        points.append(
            {
                "kind": kind,
                "level": level,
                "accuracy_mean": float(counts.mean() / spec.draws),
                "accuracy_all": float((counts == spec.draws).mean()),
                "counts": _counts_hex(counts),
            }
        )
    checks.append(_check("inputs in [0, 1]", in_range, "every noisy input lies in [0, 1]"))
    checks.append(
        _check("inside the ball", within, "uniform noise lies within its radius in its norm")
    )
    falls, worst = True, ""
    for kind, levels in spec.levels:
        accs = [float(p["accuracy_mean"]) for p in points if p["kind"] == kind]
        for lo, hi, a, b in zip(levels, levels[1:], accs, accs[1:], strict=False):
            # a rise beyond 3 standard errors of the draws' mean (plus one image) is flagged
            se = math.sqrt(max(a * (1 - a), 1e-12) / (len(y) * spec.draws))
            if b > a + 3 * se + 1 / len(y):
                falls, worst = False, f"{kind}: {a:.4f} at {lo:g} -> {b:.4f} at {hi:g}"
    checks.append(
        _check(
            "falls with the level",
            falls,
            "mean accuracy does not rise with the level beyond sampling noise"
            if falls
            else f"mean accuracy ROSE with the level ({worst})",
        )
    )
    return {
        "n": len(y),
        "draws": spec.draws,
        "clean_accuracy": float(clean.mean()),
        "clean_bits": pack_mask(clean),
        "points": points,
        "checks": checks,
    }


def corruption_values(
    model: Any, data: Dataset, spec: CorruptionSpec, *, limit: int | None, seed: int
) -> dict[str, Any]:
    """Accuracy under each corruption (one seeded corruption per image), and the checks."""
    x, y = _split(data, limit)
    run = partial(corrupt, seed=seed, shape=data.image_shape, set_name=spec.set_name)
    clean = _predict(model, x) == y
    points = []
    in_range, same, identity = True, True, True
    for name in spec.names:
        xc = run(x, name, severity=spec.severity)
        in_range &= bool(xc.shape == x.shape and xc.min() >= 0 and xc.max() <= 1)
        head = x[:CHECK_ROWS]
        again = run(head, name, severity=spec.severity)
        same &= bool(np.array_equal(again, xc[:CHECK_ROWS]))
        at_zero = run(head, name, severity=0.0)
        identity &= bool(np.array_equal(at_zero, head))
        correct = _predict(model, xc) == y
        points.append(
            {"corruption": name, "accuracy": float(correct.mean()), "bits": pack_mask(correct)}
        )
    checks = [
        _check(
            "inputs in [0, 1]", in_range, "every corrupted image has the input's shape, in [0, 1]"
        ),
        _check(
            "deterministic",
            same,
            f"the first {CHECK_ROWS} images, corrupted again alone, are bit-identical",
        ),
        _check(
            "severity 0 is the identity",
            identity,
            "at severity 0 every corruption returns its input",
        ),
    ]
    # the set is written only when it is not the default, as records before sets were
    return {
        **({} if spec.set_name == DEFAULT_SET else {"set": spec.set_name}),
        "n": len(y),
        "severity": spec.severity,
        "clean_accuracy": float(clean.mean()),
        "clean_bits": pack_mask(clean),
        "points": points,
        "checks": checks,
    }


@dataclass(frozen=True)
class Perturbed:
    """One model's noise and corruption values (None: the suite asks for neither)."""

    noise: dict[str, Any] | None
    corruptions: dict[str, Any] | None

    def failed_checks(self) -> list[str]:
        return [
            f"{what}: {c['name']} ({c['detail']})"
            for what, values in (("noise", self.noise), ("corruptions", self.corruptions))
            if values is not None
            for c in values["checks"]
            if not c["passed"]
        ]


def ensure_perturbed(
    ckpt: Checkpoint,
    noise: NoiseSpec | None,
    corruptions: CorruptionSpec | None,
    *,
    runs_dir: Path | None,
    data_dir: Path | None = None,
    limit: int | None,
    seed: int,
) -> Perturbed:
    """A model's accuracy under the suite's noise and corruptions: reused when recorded for
    these weights and settings, else computed (from the weights, on the CPU) and stored."""
    found: list[dict[str, Any] | None] = []
    for kind, spec, values in (
        ("noise", noise, noise_values),
        ("corruptions", corruptions, corruption_values),
    ):
        if spec is None:
            found.append(None)
            continue
        found.append(
            ensure_diagnostic(
                ckpt,
                kind,
                {**spec.params(), "limit": limit, "seed": seed},
                lambda m, d, f=values, s=spec: f(m, d, s, limit=limit, seed=seed),  # type: ignore[misc]
                runs_dir=runs_dir,
                data_dir=data_dir,
            )
        )
    return Perturbed(found[0], found[1])


def find_perturbed(
    ckpt: Checkpoint,
    noise: NoiseSpec | None,
    corruptions: CorruptionSpec | None,
    *,
    runs_dir: Path,
    limit: int | None,
    seed: int,
) -> tuple[Perturbed, list[str]]:
    """What is recorded (computing nothing), and the kinds that are missing."""
    found: list[dict[str, Any] | None] = []
    missing = []
    for kind, spec in (("noise", noise), ("corruptions", corruptions)):
        values = None
        if spec is not None:
            params = {**spec.params(), "limit": limit, "seed": seed}
            values = find_diagnostic(ckpt, kind, params, runs_dir=runs_dir)
            if values is None:
                missing.append(kind)
        found.append(values)
    return Perturbed(found[0], found[1]), missing


def point_counts(values: dict[str, Any], kind: str, level: float) -> np.ndarray | None:
    """Per image, the draws it is correct under at one noise point (None: not run)."""
    for p in values["points"]:
        if p["kind"] == kind and abs(p["level"] - level) < 1e-12:
            return counts_of(p["counts"])
    return None


def corruption_set(values: dict[str, Any]) -> str:
    """The corruption set a record's values come from (records before sets: the default)."""
    return str(values.get("set", DEFAULT_SET))


def corruption_bits(values: dict[str, Any], name: str) -> np.ndarray | None:
    for p in values["points"]:
        if p["corruption"] == name:
            return unpack_mask(p["bits"], int(values["n"]))
    return None
