"""Random perturbations of inputs in [0, 1], and what a suite's `noise:` and `corruptions:`
blocks say (torch-free: the CLI and the suites parse them).

Kinds of noise, each clipped to [0, 1] after it is added:
- `gaussian`: N(0, sigma^2) per pixel (the level is sigma);
- `uniform-<norm>` for every threat model (`uniform-linf`, `uniform-l2`, `uniform-l1`):
  uniform in that norm's ball of radius eps (the level), drawn by the threat model.

Draw k of image i is seeded by (seed, kind, level, k, i), so an image's noise does not
depend on which other images are evaluated with it.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from lilbench.data.corruptions import CORRUPTION_SETS, DEFAULT_SET, set_for
from lilbench.errors import ConfigError
from lilbench.params import check_keys
from lilbench.threats import THREATS

GAUSSIAN = "gaussian"
UNIFORM = {f"uniform-{t.name}": t for _, t in sorted(THREATS.items(), key=lambda i: i[1].order)}
NOISE_KINDS = (GAUSSIAN, *UNIFORM)
# The largest level each kind accepts. Inputs lie in [0, 1]: Gaussian noise of sigma 10 is
# already a coin toss per pixel after clipping; a uniform kind takes its threat model's
# largest radius (L-inf 1 covers the box, L2 1000 and L1 1e6 any image up to 1000^2
# pixels). Past these a level only costs time (or overflows the seed arithmetic).
MAX_LEVEL: dict[str, float] = {GAUSSIAN: 10.0, **{k: t.max_eps for k, t in UNIFORM.items()}}
# how tables name each kind, before its level ("Gaussian sigma 0.3", "uniform L2 1")
NOISE_LABELS: dict[str, str] = {
    GAUSSIAN: "Gaussian sigma",
    **{k: f"uniform {t.label}" for k, t in UNIFORM.items()},
}
# `noise: true`: the kinds and levels of the first noise blocks (so their records keep their
# keys); uniform-l1 joins only where a suite names it
DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {
    "gaussian": (0.1, 0.2, 0.3, 0.5),
    "uniform-linf": (0.1, 0.3),
    "uniform-l2": (1.0, 2.0, 4.0),
}


def _draw(kind: str, level: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if kind == GAUSSIAN:
        return rng.normal(0.0, level, shape)
    return UNIFORM[kind].sample_ball(shape, level, rng)


def noise_size(kind: str, delta: np.ndarray) -> np.ndarray | None:
    """Per row, the size of a uniform kind's perturbation in its own norm (None: Gaussian)."""
    t = UNIFORM.get(kind)
    return None if t is None else np.linalg.norm(delta, ord=t.p, axis=1)


def noisy(
    x: np.ndarray, kind: str, level: float, *, seed: int, draw: int, first_index: int = 0
) -> np.ndarray:
    """Rows of `x` (flat inputs in [0, 1]) with one draw of the noise added and clipped to
    [0, 1], as float32. A level of 0 returns the inputs unchanged."""
    if kind not in NOISE_KINDS:
        raise ConfigError(f"unknown noise {kind!r}; known: {', '.join(NOISE_KINDS)}")
    out = np.array(x, dtype=np.float32, copy=True)
    if level == 0:
        return out
    code = zlib.crc32(kind.encode())
    micro = round(level * 1e6)
    for k in range(x.shape[0]):
        rng = np.random.default_rng([seed, code, micro, draw, first_index + k])
        out[k] = np.clip(x[k] + _draw(kind, level, x[k].shape, rng), 0.0, 1.0)
    return out


def _levels(kind: str, value: Any) -> tuple[float, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"noise.{kind}: levels are finite numbers >= 0, got {v!r}")
        if v > MAX_LEVEL[kind]:
            raise ConfigError(
                f"noise.{kind}: levels lie in [0, {MAX_LEVEL[kind]:g}] (inputs are in [0, 1]), "
                f"got {v:g}"
            )
        out.append(float(v))
    if not out:
        raise ConfigError(f"noise.{kind}: give at least one level")
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class NoiseSpec:
    """Which noise, at which levels, averaged over how many seeded draws."""

    levels: tuple[tuple[str, tuple[float, ...]], ...] = tuple(DEFAULT_LEVELS.items())
    draws: int = 3

    @classmethod
    def from_value(cls, value: Any) -> NoiseSpec:
        """`noise: true` (the defaults) or {draws: N, gaussian: [...], uniform-linf: [...],
        uniform-l2: [...]} (the kinds given replace the defaults' kinds)."""
        if value is True:
            return cls()
        if not isinstance(value, dict):
            raise ConfigError("noise: expected true or a mapping (draws, " + ", ".join(NOISE_KINDS))
        check_keys(value, ("draws", *NOISE_KINDS), where="noise")
        draws = value.get("draws", 3)
        if isinstance(draws, bool) or not isinstance(draws, int) or not 1 <= draws <= 255:
            raise ConfigError(f"noise.draws: expected an integer in 1..255, got {draws!r}")
        given = [(k, _levels(k, value[k])) for k in NOISE_KINDS if k in value]
        return cls(tuple(given) if given else tuple(DEFAULT_LEVELS.items()), draws)

    def points(self) -> list[tuple[str, float]]:
        return [(kind, level) for kind, levels in self.levels for level in levels]

    def params(self) -> dict[str, Any]:
        return {"draws": self.draws, "levels": {k: list(v) for k, v in self.levels}}


# Severity scales a corruption's strength (1: MNIST-C's published setting). CIFAR-10-C's
# severities run 1 .. 5; past 5 a corruption only costs memory and time (a severity of 1e9
# asks for 74 GiB), so it is refused before any work.
MAX_SEVERITY = 5.0


@dataclass(frozen=True)
class CorruptionSpec:
    """Which corruptions of which set (default: every one of the set that fits the data set's
    channels), at one severity (1: the published)."""

    names: tuple[str, ...] = ()
    severity: float = 1.0
    set_name: str = DEFAULT_SET

    @classmethod
    def from_value(cls, value: Any, *, channels: int = 1) -> CorruptionSpec:
        """`corruptions: true` or {set: NAME, names: [...], severity: S}, for images of
        `channels` channels (the set must apply to them)."""
        if value is True:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError("corruptions: expected true or {set: S, names: [...], severity: S}")
        check_keys(value, ("set", "names", "severity"), where="corruptions")
        cset = CORRUPTION_SETS.get(str(value["set"])) if "set" in value else set_for(channels)
        if cset.channels != channels:
            raise ConfigError(
                f"corruptions.set: {cset.label}'s corruptions apply to {cset.channels}-channel "
                f"images; this data set's have {channels} (`set: {set_for_name(channels)}`)"
            )
        names = value.get("names", list(cset.names))
        if not isinstance(names, list) or not names:
            raise ConfigError("corruptions.names: expected a non-empty list")
        for n in names:
            cset.get(str(n))  # the unknown-name message, with a suggestion
            if names.count(n) > 1:
                raise ConfigError(f"corruptions.names: {n} is named twice; name it once")
        sev = value.get("severity", 1.0)
        if (
            isinstance(sev, bool)
            or not isinstance(sev, int | float)
            or not 0 <= sev <= MAX_SEVERITY
        ):
            raise ConfigError(
                f"corruptions.severity: expected a number in [0, {MAX_SEVERITY:g}] (1 is the "
                f"published setting), got {sev!r}"
            )
        cset.check_severity(sev)
        return cls(tuple(str(n) for n in names), float(sev), cset.name)

    def params(self) -> dict[str, Any]:
        # The default set is left out, so records written before sets existed keep their keys.
        extra = {} if self.set_name == DEFAULT_SET else {"set": self.set_name}
        return {**extra, "names": list(self.names), "severity": self.severity}


def set_for_name(channels: int) -> str:
    """The name of the set that fits `channels`, or "none" (for the message above)."""
    try:
        return set_for(channels).name
    except ConfigError:
        return "none fits"
