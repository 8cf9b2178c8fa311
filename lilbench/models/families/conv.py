"""A convolutional feature extractor with an LIL head (the authors' CIFAR-10 network), for
image data. Its module is `lilbench.models.conv.ConvLIL`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from lilbench.errors import ConfigError
from lilbench.models.family import FAMILIES, DataShape, ModelFamily, ModelParams

if TYPE_CHECKING:
    from torch import nn

# name -> conv channels and the LIL head's default (width, depth).
CONV_PRESETS: dict[str, dict[str, Any]] = {
    # Trains in minutes on 2 CPU cores (CIFAR-10, a few epochs).
    "small": {"channels": (16, 32), "width": 256, "depth": 3},
    # The authors' CIFAR-10 network: conv 3 -> 128 -> 256, LIL head of 3 tanh layers of 1,000.
    "authors": {"channels": (128, 256), "width": 1000, "depth": 3},
}


class ConvParams(ModelParams):
    conv: Literal["small", "authors"] = Field(
        description="A convolutional feature extractor before the LIL head (image data): small "
        "(16, 32 channels; head 3 x 256) or authors (128, 256; head 3 x 1000).",
    )
    width: int = Field(100, ge=1, description="Hidden units per layer (default 100; toys 20).")
    depth: int = Field(4, ge=1, description="Hidden layers (per block; default 4).")
    activation: Literal["tanh", "relu"] = Field("tanh", description="Hidden activation.")
    pool: Literal["max", "avg"] = Field(
        "max",
        description="Pooling after each conv block: max (the authors') or avg (an affine map, "
        "so certificates bound the network).",
    )


@FAMILIES.register("conv")
class Conv(ModelFamily):
    name = "conv"
    params_type = ConvParams
    architecture = "ConvLIL"
    selected_by = "conv"
    certify_refusal = (
        "the conv family's 2x2 max-pooling has no relaxation here (certificates pass through "
        "Conv2d, AvgPool2d, BatchNorm, Linear, ReLU and Tanh): train with pool: avg, or "
        "certify your own such model with --model"
    )

    @classmethod
    def refuses_certificates(cls, params: ModelParams) -> str | None:
        assert isinstance(params, ConvParams)
        return cls.certify_refusal if params.pool == "max" else None

    @classmethod
    def defaults(cls, given: dict[str, Any]) -> dict[str, Any]:
        preset = CONV_PRESETS.get(given.get("conv"))  # type: ignore[arg-type]
        return {} if preset is None else {"width": preset["width"], "depth": preset["depth"]}

    @classmethod
    def build(cls, params: ModelParams, data: DataShape) -> nn.Module:
        from lilbench.models.conv import ConvLIL, ConvSpec

        assert isinstance(params, ConvParams)
        shape = tuple(data.image_shape or ())
        if len(shape) != 3 or math.prod(shape) != data.input_dim:
            raise ConfigError(
                f"a convolutional model needs image data (C, H, W); {data.dataset} inputs "
                f"have shape {shape or (data.input_dim,)}"
            )
        spec = ConvSpec(
            image_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
            channels=tuple(CONV_PRESETS[params.conv]["channels"]),
            width=params.width,
            depth=params.depth,
            activation=params.activation,
            num_classes=data.level_classes[-1],
            mean=data.mean,
            std=data.std,
            pool=params.pool,
        )
        return ConvLIL(spec)

    @classmethod
    def from_architecture(cls, arch: dict[str, Any]) -> nn.Module:
        from lilbench.models.conv import ConvLIL, ConvSpec

        tuples = ("image_shape", "channels", "mean", "std")
        fixed = {k: tuple(v) if k in tuples and v is not None else v for k, v in arch.items()}
        return ConvLIL(ConvSpec(**fixed))  # type: ignore[arg-type]

    @classmethod
    def legacy_fields(cls, params: ModelParams) -> dict[str, Any] | None:
        # max-pooling models keep the flat fields (and hashes) they had; avg-pooling ones,
        # added since, are stored and hashed as model + model_params
        if params.pool != "max":  # type: ignore[attr-defined]
            return None
        return {k: v for k, v in dict(params).items() if k != "pool"}
