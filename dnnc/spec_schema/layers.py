"""Layer tables of `model.layers`.

Every layer may carry `name` (unique; default `<type>`, `<type>_1`, … in
declaration order, as Keras names layers) and `inputs` (names of model inputs
or other layers; default: the previous layer in the list, so a plain list is a
sequential model).  A bare string is shorthand for a layer with defaults:
`"flatten"` equals `{ type = "flatten" }`.  A layer with weights may carry
`trainable = false` (frozen: its weights are not trained).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

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


PositiveInt = Annotated[int, Field(gt=0)]
Window = Union[PositiveInt, Annotated[list[PositiveInt], Field(min_length=1, max_length=2)]]
"""A size per spatial axis: one positive integer for every axis, or a list with one entry per axis."""


class _Conv(LayerBase):
    filters: int = Field(..., gt=0, description="Number of output channels.")
    kernel_size: Window = Field(..., description="Window size: an integer for every spatial axis, or one per axis.")
    strides: Window = Field(1, description="Step of the window (default 1); > 1 cannot be combined with dilation_rate > 1.")
    padding: Literal["valid", "same"] = Field(
        "valid", description="`valid`: no padding; `same`: output size ⌈input/stride⌉, zeros added as TensorFlow "
                             "does (the extra cell of an odd total after: bottom/right) (default valid).")
    dilation_rate: Window = Field(1, description="Spacing between the window's cells (default 1).")
    groups: int = Field(1, gt=0, description="Channel groups; must divide the input channels and filters (default 1).")
    activation: Optional[ActivationSpec] = Field(None, description="Activation applied to the output (default linear).")
    use_bias: bool = Field(True, description="Add a bias vector (default true).")
    kernel_init: Optional[InitializerSpec] = Field(None, description="Kernel initializer (default: model.defaults, else glorot_uniform).")
    bias_init: Optional[InitializerSpec] = Field(None, description="Bias initializer (default: model.defaults, else zeros).")
    kernel_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the kernel (default: model.defaults, else none).")
    bias_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the bias (default: model.defaults, else none).")


class Conv1D(_Conv):
    """1-D convolution over (length, channels) input; kernel (k, in/groups, filters)."""

    type: Literal["conv1d"]


class Conv2D(_Conv):
    """2-D convolution over (height, width, channels) input; kernel (kh, kw, in/groups, filters)."""

    type: Literal["conv2d"]


class _Pool(LayerBase):
    pool_size: Window = Field(2, description="Window size (default 2 on every spatial axis).")
    strides: Optional[Window] = Field(None, description="Step of the window (default: pool_size).")
    padding: Literal["valid", "same"] = Field(
        "valid", description="`valid`: no padding; `same`: output size ⌈input/stride⌉, padded as TensorFlow does; "
                             "padded cells are ignored (default valid).")


class MaxPool1D(_Pool):
    """Maximum over windows of (length, channels) input."""

    type: Literal["max_pool1d"]


class MaxPool2D(_Pool):
    """Maximum over windows of (height, width, channels) input."""

    type: Literal["max_pool2d"]


class AvgPool1D(_Pool):
    """Mean over windows of (length, channels) input (padded cells not counted)."""

    type: Literal["avg_pool1d"]


class AvgPool2D(_Pool):
    """Mean over windows of (height, width, channels) input (padded cells not counted)."""

    type: Literal["avg_pool2d"]


class GlobalMaxPool1D(LayerBase):
    """Maximum over the length axis, per channel: (length, channels) → (channels,)."""

    type: Literal["global_max_pool1d"]


class GlobalMaxPool2D(LayerBase):
    """Maximum over height and width, per channel: (height, width, channels) → (channels,)."""

    type: Literal["global_max_pool2d"]


class GlobalAvgPool1D(LayerBase):
    """Mean over the length axis, per channel: (length, channels) → (channels,)."""

    type: Literal["global_avg_pool1d"]


class GlobalAvgPool2D(LayerBase):
    """Mean over height and width, per channel: (height, width, channels) → (channels,)."""

    type: Literal["global_avg_pool2d"]


NonNegativeInt = Annotated[int, Field(ge=0)]


class ZeroPadding2D(LayerBase):
    """Zeros added around (height, width, channels) input."""

    type: Literal["zero_padding2d"]
    padding: Union[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)],
                   Annotated[list[Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]],
                             Field(min_length=2, max_length=2)]] = Field(
        1, description="p (every side), [rows, columns] (both sides each), or [[top, bottom], [left, right]] "
                       "(default 1).")


class UpSampling2D(LayerBase):
    """Nearest-neighbour upsampling of (height, width, channels) input: every cell repeated size[0] × size[1] times."""

    type: Literal["upsampling2d"]
    size: Window = Field(2, description="Repeats of each row and column: one integer for both or [rows, columns] "
                                        "(default 2).")
    interpolation: Literal["nearest"] = Field("nearest", description="Only nearest (default nearest).")


class SpatialDropout2D(LayerBase):
    """Dropout of whole feature maps of (height, width, channels) input: each sample's channel is zeroed with
    probability `rate` at every position, the rest scaled by 1/(1 − rate)."""

    type: Literal["spatial_dropout2d"]
    rate: float = Field(..., ge=0, lt=1, description="Fraction of channels dropped, in [0, 1).")


SPATIAL_MODELS = [Conv1D, Conv2D, MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D,
                  GlobalMaxPool1D, GlobalMaxPool2D, GlobalAvgPool1D, GlobalAvgPool2D, ZeroPadding2D, UpSampling2D,
                  SpatialDropout2D]


class LayerNorm(LayerBase):
    """Layer normalisation over the last axis of each sample: y = γ·(x − μ)/sqrt(σ² + ε) + β, with the mean and
    the biased variance of that axis; the same in training and inference."""

    type: Literal["layer_norm"]
    epsilon: float = Field(0.001, gt=0, description="Added to the variance (default 0.001, Keras's; torch's is 1e-5).")
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

from .recurrent import RECURRENT_MODELS  # noqa: E402  (the recurrent layers build on LayerBase above)

BUILTIN_LAYER_MODELS: list[type[LayerBase]] = [
    Dense, Maxout, Flatten, Reshape, BatchNorm, LayerNorm, Dropout, ActivationLayer,
    *ACTIVATION_LAYER_MODELS, *MERGE_MODELS, *SPATIAL_MODELS, *RECURRENT_MODELS,
]


def layer_type_name(model: type[StrictModel]) -> str:
    """The `type` tag of a spec model class."""
    return model.model_fields["type"].annotation.__args__[0]
