"""What a certification run is: which certificates, at which eps. Torch-free (CLI, suites)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lilbench.certify.methods import METHODS as REGISTRY
from lilbench.certify.methods import default_methods, method_names
from lilbench.errors import ConfigError
from lilbench.params import check_keys
from lilbench.threats import keys as norm_keys
from lilbench.threats import threat
from lilbench.training.config import TrainConfig

# Every registered method, loosest first, and the default set (each method's file says
# whether it is in it; alpha-CROWN is not, so a default run keeps its record's key).
METHODS: tuple[str, ...] = method_names()
DEFAULT_METHODS: tuple[str, ...] = default_methods()
DEFAULT_EPS: tuple[float, ...] = threat("inf").default_certify_eps


@dataclass(frozen=True)
class CertifySpec:
    eps: tuple[float, ...] = DEFAULT_EPS
    methods: tuple[str, ...] = DEFAULT_METHODS
    batch_size: int = 128  # CROWN's backward matrices are [batch, width, 784] in float64
    norm: str = "inf"  # the ball's norm: inf (L-inf) or 2 (L2)

    def validate(self) -> CertifySpec:
        if not self.eps:
            raise ConfigError("certify: give at least one eps")
        if self.norm not in norm_keys():
            raise ConfigError(
                f"certify: unknown norm {self.norm!r}; known: {', '.join(norm_keys())}"
            )
        for e in self.eps:
            if not isinstance(e, int | float) or isinstance(e, bool) or not math.isfinite(e):
                raise ConfigError(f"certify: eps must be finite numbers, got {e!r}")
            why = threat(self.norm).check_eps(float(e))
            if why is not None:
                raise ConfigError(f"certify: {why}")
        if not self.methods:
            raise ConfigError(f"certify: give at least one method ({', '.join(METHODS)})")
        for m in self.methods:
            if m not in REGISTRY:
                raise ConfigError(f"certify: {REGISTRY.unknown(m)}")
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError("certify: a method is named twice")
        if self.batch_size < 1:
            raise ConfigError(f"certify: batch_size must be >= 1, got {self.batch_size}")
        return self

    def params(self) -> dict[str, Any]:
        """What the record is keyed by (the batch size does not change a bound; the norm
        only when it is not L-inf, so that every earlier certificate keeps its key)."""
        params: dict[str, Any] = {"eps": sorted(set(self.eps)), "methods": sorted(self.methods)}
        if not threat(self.norm).is_default:
            params["norm"] = self.norm
        return params

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, where: str = "certify") -> CertifySpec:
        check_keys(values, ("eps", "methods", "batch_size", "norm"), where=where)
        eps = values.get("eps", DEFAULT_EPS)
        methods = values.get("methods", DEFAULT_METHODS)
        if not isinstance(eps, list | tuple) or not isinstance(methods, list | tuple):
            raise ConfigError(f"{where}: eps and methods are lists")
        batch = values.get("batch_size", 128)
        if not isinstance(batch, int) or isinstance(batch, bool):
            raise ConfigError(f"{where}: batch_size must be an integer, got {batch!r}")
        norm = values.get("norm", "inf")
        if isinstance(norm, float) and norm.is_integer():
            norm = int(norm)  # `norm: 2.0` is `norm: 2`
        return cls(tuple(eps), tuple(methods), batch, str(norm)).validate()

    @property
    def threat(self) -> Any:
        """The threat model (a `lilbench.threats.ThreatModel`)."""
        return threat(self.norm)


def refuse_uncertifiable(config: TrainConfig) -> None:
    """One line, before any work, for a model family that says certificates cannot bound it."""
    reason = config.family.refuses_certificates(config.params)
    if reason is not None:
        raise ConfigError(f"certify {reason} (model family {config.model})")
