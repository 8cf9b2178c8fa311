"""What a certificate method is, and the per-batch problem the methods share.

A method is one file in this folder, registered in `METHODS` with its name, its place in
lists, and whether the default set runs it. Its `margins(problem)` returns sound lower
bounds [N, K-1] of z_y - z_j over the input set; `certified` may be narrower (alpha-CROWN
optimises only where it can change the verdict). The `Problem` caches what several methods
reuse on one batch (IBP's and CROWN's layer bounds, CROWN's margins), so a run of CROWN and
alpha-CROWN bounds the layers once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from lilbench.lazy import lazy_module
from lilbench.registry import Registry

if TYPE_CHECKING:
    import torch

    from lilbench.certify.chain import Chain
    from lilbench.certify.inputs import InputSet
    from lilbench.certify.relax import Lines
else:
    torch = lazy_module("torch")

Bounds = list[tuple["torch.Tensor", "torch.Tensor"]]  # pre-activation (lower, upper) per layer


@dataclass
class Problem:
    chain: Chain
    x: torch.Tensor  # [N, d] float64
    labels: torch.Tensor
    inputs: InputSet
    cache: dict[str, object] = field(default_factory=dict)

    @cached_property
    def spec(self) -> torch.Tensor:
        from lilbench.certify.chain import margin_matrix

        return margin_matrix(self.labels, self.chain.num_classes)

    @cached_property
    def correct(self) -> torch.Tensor:
        """[N] bool: classified correctly at the centre (no bound can certify the others)."""
        margins = self.spec @ self.chain.forward(self.x)[:, :, None]
        return (margins[..., 0] > 0).all(dim=1)

    def lines(self, pre: Bounds) -> list[Lines]:
        return [act.lines(*pre[i]) for i, act in enumerate(self.chain.activations)]


class Method:
    name: ClassVar[str]
    order: ClassVar[int]  # loosest first: lists, tables, and the order a run computes them
    default: ClassVar[bool] = False  # in the default set
    monotone: ClassVar[bool] = True  # certifies fewer as eps grows (the runner checks it)
    summary: ClassVar[str]  # one line for --help and the docs
    uses_layer_bounds: ClassVar[bool] = False  # bounds every hidden neuron by CROWN's pass

    def margins(self, problem: Problem) -> torch.Tensor:
        raise NotImplementedError

    def certified(self, problem: Problem) -> torch.Tensor:
        return (self.margins(problem) > 0).all(dim=1)


METHODS: Registry[Method] = Registry("certificate method")


def register(cls: type[Method]) -> type[Method]:
    METHODS.register(cls.name)(cls())
    return cls
