"""Stacked (hierarchical) LILs: one LIL block per label level, coarse to fine (the torus).
Its module is `lilbench.models.stacked.StackedLIL`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from lilbench.models.family import FAMILIES, DataShape, ModelFamily, ModelParams

if TYPE_CHECKING:
    from torch import nn


class StackedParams(ModelParams):
    width: int = Field(100, ge=1, description="Hidden units per layer (default 100; toys 20).")
    depth: int = Field(4, ge=1, description="Hidden layers (per block; default 4).")
    activation: Literal["tanh", "relu"] = Field("tanh", description="Hidden activation.")
    head: Literal["per-level", "shared"] = Field(
        "per-level", description="Stacked models: per-level or shared (default per-level)."
    )
    detach: bool = Field(True, description="Stacked models: isolate each block's gradients.")


@FAMILIES.register("stacked")
class Stacked(ModelFamily):
    name = "stacked"
    params_type = StackedParams
    architecture = "StackedLIL"
    selected_by = "hierarchy"
    objectives = ("lil",)  # each block's own L_iso on its own label level

    @classmethod
    def build(cls, params: ModelParams, data: DataShape) -> nn.Module:
        from lilbench.models.stacked import StackedLIL, StackedSpec

        spec = StackedSpec(
            input_dim=data.input_dim, level_classes=data.level_classes, **dict(params)
        )
        return StackedLIL(spec)

    @classmethod
    def from_architecture(cls, arch: dict[str, Any]) -> nn.Module:
        from lilbench.models.stacked import StackedLIL, StackedSpec

        return StackedLIL(StackedSpec(**{**arch, "level_classes": tuple(arch["level_classes"])}))

    @classmethod
    def legacy_fields(cls, params: ModelParams) -> dict[str, Any] | None:
        return {**dict(params), "hierarchy": True}
