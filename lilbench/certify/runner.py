"""Certify a model on test images: per method and eps, which images no perturbation in the
ball (clipped to [0, 1]) can misclassify. Knows nothing of storage."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lilbench.certify.bounds import Chain, certified_all
from lilbench.certify.methods import METHODS
from lilbench.certify.spec import CertifySpec
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from lilbench.training.config import TrainConfig
else:
    torch = lazy_module("torch")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CertifiedPoint:
    method: str
    eps: float
    n: int
    certified: int
    seconds: float
    bits: str  # hex of numpy.packbits of the certified mask, for per-image brackets

    @property
    def accuracy(self) -> float:
        return self.certified / self.n

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "eps": self.eps,
            "n": self.n,
            "certified": self.certified,
            "accuracy": self.accuracy,
            "seconds": self.seconds,
            "bits": self.bits,
        }


@dataclass
class CertifyOutcome:
    n: int
    clean_correct: int
    points: list[CertifiedPoint] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks)


def refuse_unbounded_layers(
    configs: list[tuple[str, TrainConfig]], data_dir: Path | None, *, where: str
) -> None:
    """Each (name, config) built untrained and its layers read as the certificates read them,
    before anything is trained: a layer they cannot take is one line then, not an error an
    hour into a suite (a family's own `refuses_certificates` is asked when the suite is read)."""
    if not configs:
        return
    from lilbench.data import load_dataset
    from lilbench.training.common import data_shape

    shape = data_shape(load_dataset(configs[0][1].dataset, data_dir=data_dir))
    for name, config in configs:
        try:
            Chain.runs(listed_layers(config.family.build(config.params, shape)))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {name}: {exc}") from None


def listed_layers(model: nn.Module) -> list[nn.Module]:
    """The layers a model lists in order (`layers()`), as the certificates read them."""
    layers = getattr(model, "layers", None)
    if layers is None:
        raise ConfigError(f"certify: a {type(model).__name__} does not list its layers")
    return list(layers())


def _bits(mask: torch.Tensor) -> str:
    return np.packbits(mask.cpu().numpy().astype(np.uint8)).tobytes().hex()


def unpack_bits(hex_bits: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(hex_bits), dtype=np.uint8))[:n].astype(bool)


# CROWN's layer bounds past this many multiply-adds (about 7 minutes at the 2.4 GFLOP/s a
# float64 backward pass reaches on this 2-core machine) are refused before any work
MAX_CROWN_WORK = 1e12


def refuse_heavy(chain: Chain, spec: CertifySpec, n: int) -> None:
    from lilbench.certify.backward import layer_bound_work

    heavy = [m for m in spec.methods if METHODS.get(m).uses_layer_bounds]
    work = layer_bound_work(chain, n) * len(spec.eps)
    if heavy and work > MAX_CROWN_WORK:
        raise ConfigError(
            f"certify: {', '.join(heavy)} would bound every hidden neuron backward: about "
            f"{work:.1e} multiply-adds for {n} images at {len(spec.eps)} eps (hours here); use "
            "--method ibp (or lipschitz), fewer images (--test-limit) or a smaller network"
        )


def certify_model(
    model: nn.Module,
    spec: CertifySpec,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    progress: Progress | None = None,
) -> CertifyOutcome:
    chain = Chain.from_layers(listed_layers(model), getattr(model, "input_shape", None))
    refuse_heavy(chain, spec, len(x))
    x64 = x.reshape(len(x), -1).double()
    with torch.no_grad():
        logits = model(x.float()).double()
    chain_logits = chain.forward(x64)
    gap = float((chain_logits - logits).abs().max()) if len(x) else 0.0
    clean = chain_logits.argmax(1) == y
    outcome = CertifyOutcome(n=len(x), clean_correct=int(clean.sum()))
    # The chain must be the model: a bound of another function certifies nothing.
    outcome.checks.append(
        {
            "name": "chain reproduces the model",
            "passed": gap < 1e-3,
            "detail": f"max |logit difference| {gap:.2e} (float64 chain vs the float32 model)",
        }
    )
    total = len(spec.eps)
    masks: dict[str, list[torch.Tensor]] = {m: [] for m in spec.methods}
    points: dict[str, list[CertifiedPoint]] = {m: [] for m in spec.methods}
    for done, eps in enumerate(sorted(spec.eps), start=1):
        # the methods share each batch's work (CROWN's layer bounds serve alpha-CROWN); a
        # method's seconds count the shared work only where it is first done
        seconds: dict[str, float] = {}
        found = certified_all(
            chain,
            x64,
            y,
            eps,
            spec.methods,
            batch_size=spec.batch_size,
            norm=spec.norm,
            seconds=seconds,
        )
        for method, mask in found.items():
            masks[method].append(mask)
            points[method].append(
                CertifiedPoint(method, eps, len(x), int(mask.sum()), seconds[method], _bits(mask))
            )
        if progress:
            progress(done, total)
    outcome.points.extend(p for m in spec.methods for p in points[m])
    # Sound certificates can only certify images the model classifies correctly, and only
    # fewer as the ball grows (the larger box contains the smaller).
    subset = all(bool((m & ~clean).sum() == 0) for ms in masks.values() for m in ms)
    outcome.checks.append(
        {
            "name": "certified only where correct",
            "passed": subset,
            "detail": "every certified image is classified correctly at eps = 0",
        }
    )
    nested = all(
        bool((later & ~earlier).sum() == 0)
        for method, ms in masks.items()
        if METHODS.get(method).monotone  # CROWN's lines change with the ball: not nested
        for earlier, later in itertools.pairwise(ms)
    )
    outcome.checks.append(
        {
            "name": "IBP and Lipschitz certificates shrink with eps",
            "passed": nested,
            "detail": "an image certified at a larger eps is certified at every smaller one",
        }
    )
    return outcome
