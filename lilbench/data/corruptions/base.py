"""Common corruptions as named sets: a set (MNIST-C, ...) is one registered file that declares
its corruptions in their published order and the images they apply to.

A corruption is `f(image, rng, severity) -> image` on one image in [0, 1]: (H, W) for a set
of grey images, (H, W, C) for colour. Severity 0 is the identity; each set says what its
severities mean.

Randomness comes from a generator seeded by (seed, the corruption's name, image index), so
an image's corruption does not depend on which other images are corrupted with it, nor in
what batch.
"""

from __future__ import annotations

import difflib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from lilbench.errors import ConfigError
from lilbench.registry import Registry

Corruption = Callable[[np.ndarray, np.random.Generator, float], np.ndarray]
C = TypeVar("C", bound=Corruption)


@dataclass(frozen=True)
class CorruptionSet:
    """A published set of corruptions: `name` (suites' `corruptions: {set: ...}`), `label`
    (tables and prose), the image channels it applies to, and its corruptions in order."""

    name: str
    label: str
    channels: int
    reference: str
    # how a report says where the set comes from and what severity 1 is
    provenance: str
    # True: severity is one of the published levels 1 .. 5 (or 0, the identity); False: any
    # number in [0, 5] scales the corruption's strength (1: the published setting)
    integer_severities: bool = False
    functions: dict[str, Corruption] = field(default_factory=dict, compare=False)

    def corruption(self, name: str) -> Callable[[C], C]:
        """Decorator: add a corruption to this set (in the order of the file)."""

        def add(fn: C) -> C:
            if name in self.functions:
                raise RuntimeError(f"{self.name}: two corruptions are both named {name!r}")
            self.functions[name] = fn
            return fn

        return add

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.functions)

    def get(self, name: str) -> Corruption:
        if name not in self.functions:
            close = difflib.get_close_matches(name, self.functions, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown corruption {name!r} in {self.label}; known: "
                f"{', '.join(self.functions)}{hint}"
            )
        return self.functions[name]

    def check_severity(self, severity: float) -> None:
        if self.integer_severities and severity not in (0, 1, 2, 3, 4, 5):
            raise ConfigError(
                f"{self.label}'s severities are 1, 2, 3, 4 and 5 (0: the identity), got "
                f"{severity:g}"
            )

    def describe(self, count: int) -> str:
        """How prose names the mean over `count` of this set's corruptions."""
        return f"{self.label}'s corruptions (mean of {count})"


CORRUPTION_SETS: Registry[CorruptionSet] = Registry("corruption set")
DEFAULT_SET = "mnist-c"  # records written before sets existed hold MNIST-C's


def register_set(s: CorruptionSet) -> CorruptionSet:
    return CORRUPTION_SETS.register(s.name)(s)


def set_for(channels: int) -> CorruptionSet:
    """The set for images of `channels` channels (the default set first)."""
    ordered = sorted(CORRUPTION_SETS.items(), key=lambda item: item[0] != DEFAULT_SET)
    for _, s in ordered:
        if s.channels == channels:
            return s
    raise ConfigError(
        f"no corruption set applies to {channels}-channel images; known sets: "
        + ", ".join(f"{n} ({s.channels} channel{'s' * (s.channels > 1)})" for n, s in ordered)
    )


def corrupt(
    x: np.ndarray,
    name: str,
    *,
    seed: int,
    shape: tuple[int, ...],
    severity: float = 1.0,
    first_index: int = 0,
    set_name: str = DEFAULT_SET,
) -> np.ndarray:
    """Rows of `x` (flat images in [0, 1], each of `shape` (C, H, W)) under one corruption, as
    float32 rows of the same shape. Row k's randomness is seeded by (seed, the corruption,
    first_index + k)."""
    cset = CORRUPTION_SETS.get(set_name)
    fn = cset.get(name)
    if not (severity >= 0 and math.isfinite(severity)):
        raise ConfigError(f"corruption severity must be a finite number >= 0, got {severity}")
    cset.check_severity(severity)
    if len(shape) != 3 or shape[0] != cset.channels:
        raise ConfigError(
            f"{cset.label}'s corruptions need images of {cset.channels} channel(s), got {shape}"
        )
    c, h, w = shape
    if x.ndim != 2 or x.shape[1] != c * h * w:
        raise ConfigError(f"corruptions need rows of {c}x{h}x{w} images, got {x.shape}")
    index = zlib.crc32(name.encode())  # by name: adding a corruption changes no other
    out = np.empty(x.shape, dtype=np.float32)
    for k, row in enumerate(x):
        rng = np.random.default_rng([seed, index, first_index + k])
        img = row.reshape(shape).astype(np.float64)
        img = img[0] if c == 1 else img.transpose(1, 2, 0)  # (H, W) or (H, W, C)
        done = fn(img, rng, float(severity))
        out[k] = (done if c == 1 else done.transpose(2, 0, 1)).reshape(-1)
    return out
