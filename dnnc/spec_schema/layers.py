"""Layer tables of `model.layers`.

Every layer may carry `name` (unique; default `<type>`, `<type>_1`, … in
declaration order, as Keras names layers) and `inputs` (names of model inputs
or other layers; default: the previous layer in the list, so a plain list is a
sequential model).  A bare string is shorthand for a layer with defaults:
`"flatten"` equals `{ type = "flatten" }`.  A layer with weights may carry
`trainable = false` (frozen: its weights are not trained).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import BeforeValidator, Field, field_validator, model_validator

from .activations import ACTIVATION_MODELS, ActivationSpec
from .base import StrictModel
from .initializers import InitializerSpec
from .regularizers import RegularizerSpec

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"


def _as_list(value):
    return [value] if isinstance(value, str) else value


class LayerBase(StrictModel):
    """Keys every layer accepts."""

    name: Optional[str] = Field(None, pattern=NAME_PATTERN, description="Unique layer name (default: derived from the type).")
    inputs: Annotated[Optional[list[str]], BeforeValidator(_as_list)] = Field(
        None, description="Names of the layers or model inputs feeding this layer (default: the previous layer)."
    )
    trainable: bool = Field(
        True,
        description=(
            "false freezes the layer: its weights are excluded from the gradients and the optimizer and count as "
            "non-trainable; a frozen batch_norm also normalises with its moving statistics and never updates them "
            "(Keras 3). Only layers with weights can be frozen; an `unfreeze` callback makes them trainable again "
            "(default true)."
        ),
    )


class Dense(LayerBase):
    """Fully connected layer y = activation(x·W + b), applied to the last axis; W has shape (in, units)."""

    type: Literal["dense"]
    units: int = Field(..., gt=0, description="Number of output units.")
    activation: Optional[ActivationSpec] = Field(None, description="Activation applied to the output (default linear).")
    use_bias: bool = Field(True, description="Add a bias vector (default true).")
    kernel_init: Optional[InitializerSpec] = Field(None, description="Kernel initializer (default: model.defaults, else glorot_uniform).")
    bias_init: Optional[InitializerSpec] = Field(None, description="Bias initializer (default: model.defaults, else zeros).")
    kernel_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the kernel (default: model.defaults, else none).")
    bias_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the bias (default: model.defaults, else none).")


class Maxout(LayerBase):
    """Linear layer with units·pieces outputs followed by the max over each group of `pieces` consecutive outputs."""

    type: Literal["maxout"]
    units: int = Field(..., gt=0, description="Number of output units.")
    pieces: int = Field(..., ge=2, description="Linear pieces per unit (≥ 2).")
    use_bias: bool = Field(True, description="Add a bias vector (default true).")
    kernel_init: Optional[InitializerSpec] = None
    bias_init: Optional[InitializerSpec] = None
    kernel_regularizer: Optional[RegularizerSpec] = None
    bias_regularizer: Optional[RegularizerSpec] = None


class Flatten(LayerBase):
    """Flatten every axis but the batch axis (row-major order)."""

    type: Literal["flatten"]


class Reshape(LayerBase):
    """Reshape the features (batch axis excluded); one entry may be −1."""

    type: Literal["reshape"]
    shape: list[int] = Field(..., min_length=1, description="Target shape without the batch axis; one entry may be −1.")

    @field_validator("shape")
    @classmethod
    def _check_shape(cls, v: list[int]) -> list[int]:
        if any(d == 0 or d < -1 for d in v):
            raise ValueError("entries must be positive or −1")
        if v.count(-1) > 1:
            raise ValueError("at most one entry may be −1")
        return v


class BatchNorm(LayerBase):
    """Batch normalisation over the last axis.

    Training: y = γ·(x − μ_B)/sqrt(σ²_B + ε) + β with the batch mean and the
    biased batch variance; moving = momentum·moving + (1 − momentum)·batch
    (the biased variance).  Inference uses the moving statistics.
    """

    type: Literal["batch_norm"]
    momentum: Optional[float] = Field(None, ge=0, lt=1, description="Moving-average momentum in [0, 1) (default: model.defaults, else 0.99).")
    epsilon: Optional[float] = Field(None, gt=0, description="Added to the variance (default: model.defaults, else 0.001).")
    center: bool = Field(True, description="Learn the offset β (default true).")
    scale: bool = Field(True, description="Learn the scale γ (default true).")


class Dropout(LayerBase):
    """Inverted dropout: in training each element is zeroed with probability `rate` and the rest scaled by 1/(1 − rate)."""

    type: Literal["dropout"]
    rate: float = Field(..., ge=0, lt=1, description="Fraction of units dropped, in [0, 1).")


class ActivationLayer(LayerBase):
    """Apply an activation given by `activation`."""

    type: Literal["activation"]
    activation: ActivationSpec


def _activation_layer(act_model: type[StrictModel]) -> type[LayerBase]:
    """An activation used as a layer: `{ type = "relu" }`, `{ type = "leaky_relu", negative_slope = 0.2 }`."""
    return type(
        act_model.__name__ + "Layer",
        (LayerBase, act_model),
        {"__doc__": act_model.__doc__, "__module__": __name__},
    )


ACTIVATION_LAYER_MODELS = [_activation_layer(m) for m in ACTIVATION_MODELS]


class Concatenate(LayerBase):
    """Concatenate the inputs along `axis` (−1: the last feature axis; positive axes count the batch axis as 0)."""

    type: Literal["concatenate"]
    axis: int = Field(-1, description="Concatenation axis (default −1).")


class _Merge(LayerBase):
    pass


class Add(_Merge):
    """Element-wise sum of inputs of identical shape."""

    type: Literal["add"]


class Subtract(_Merge):
    """Element-wise difference of exactly two inputs."""

    type: Literal["subtract"]


class Multiply(_Merge):
    """Element-wise product."""

    type: Literal["multiply"]


class Average(_Merge):
    """Element-wise mean."""

    type: Literal["average"]


class Maximum(_Merge):
    """Element-wise maximum."""

    type: Literal["maximum"]


class Minimum(_Merge):
    """Element-wise minimum."""

    type: Literal["minimum"]


MERGE_MODELS = [Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum]

BUILTIN_LAYER_MODELS: list[type[LayerBase]] = [
    Dense, Maxout, Flatten, Reshape, BatchNorm, Dropout, ActivationLayer,
    *ACTIVATION_LAYER_MODELS, *MERGE_MODELS,
]


def layer_type_name(model: type[StrictModel]) -> str:
    """The `type` tag of a spec model class."""
    return model.model_fields["type"].annotation.__args__[0]
