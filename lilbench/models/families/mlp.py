"""The LIL MLP (the paper's network): `depth` hidden layers of `width` units, then a linear
classifier; phi is the last hidden layer. Its module is `lilbench.models.lil.LILMLP`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from lilbench.models.family import FAMILIES, DataShape, ModelFamily, ModelParams

if TYPE_CHECKING:
    from torch import nn


class MLPParams(ModelParams):
    width: int = Field(100, ge=1, description="Hidden units per layer (default 100; toys 20).")
    depth: int = Field(4, ge=1, description="Hidden layers (per block; default 4).")
    activation: Literal["tanh", "relu"] = Field("tanh", description="Hidden activation.")
    spectral_norm: bool = Field(False, description="Spectrally normalise every linear layer.")
    dtype: Literal["float32", "float64"] = Field(
        "float32", description="MLP parameter dtype (default float32)."
    )
    init: Literal["default", "orthogonal"] = Field(
        "default",
        description='MLP hidden width x width weights: "default" (torch\'s, the default) or '
        '"orthogonal".',
    )


@FAMILIES.register("mlp")
class MLP(ModelFamily):
    name = "mlp"
    params_type = MLPParams
    architecture = "LILMLP"

    @classmethod
    def batchable(cls, params: ModelParams) -> bool:
        # The batched trainer applies plain linear layers; a spectral norm's power iteration
        # is per model.
        assert isinstance(params, MLPParams)
        return not params.spectral_norm

    @classmethod
    def build(cls, params: ModelParams, data: DataShape) -> nn.Module:
        from lilbench.models.lil import LILMLP, ModelSpec

        return LILMLP(
            ModelSpec(input_dim=data.input_dim, num_classes=data.level_classes[-1], **dict(params))
        )

    @classmethod
    def from_architecture(cls, arch: dict[str, Any]) -> nn.Module:
        from lilbench.models.lil import LILMLP, ModelSpec

        return LILMLP(ModelSpec(**arch))

    @classmethod
    def after_training(cls, model: nn.Module) -> None:
        from lilbench.models.lil import LILMLP

        if isinstance(model, LILMLP) and model.spec.spectral_norm:
            model.converge_spectral_norm()

    @classmethod
    def legacy_fields(cls, params: ModelParams) -> dict[str, Any] | None:
        return dict(params)

    @classmethod
    def label_suffix(cls, params: ModelParams) -> str:
        assert isinstance(params, MLPParams)
        # the default tanh says nothing, so that every earlier label stays
        act = "" if params.activation == "tanh" else f"+{params.activation}"
        return ("+sn" if params.spectral_norm else "") + act
