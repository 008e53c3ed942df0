"""Losses (`[training] loss`): one formula each, the Keras 3 one.

Every loss is a per-sample value reduced as Σ(sample_weight · loss) / N, with N
the batch size (not the sum of the weights).  Cross-entropies are always
computed from logits when the output layer ends in the matching activation
(softmax, sigmoid): the backends strip that activation and pass the logits to
the loss, so extreme logits give exact, finite values (docs/optimizers.md).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field

from .base import StrictModel, aliased_shorthand

_ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae"}


_loss_shorthand = aliased_shorthand(_ALIASES)
"""`"adam"`-style shorthand, plus the Keras long names of mse/mae."""


LabelSmoothing = Annotated[
    float,
    Field(ge=0, le=1, description="Mix the targets with the uniform distribution by this fraction (default 0.0)."),
]
FromLogits = Annotated[
    bool,
    Field(description="The output layer is linear and its values are logits (default false: it ends in softmax/sigmoid)."),
]


class MSE(StrictModel):
    """Mean over the last axis of (y − ŷ)²."""

    type: Literal["mse"]


class MAE(StrictModel):
    """Mean over the last axis of |y − ŷ|."""

    type: Literal["mae"]


class Huber(StrictModel):
    """Mean over the last axis of ½e² if |e| <= delta, else delta·|e| − ½delta² (e = ŷ − y)."""

    type: Literal["huber"]
    delta: float = Field(1.0, gt=0, description="Where the loss turns from quadratic to linear (default 1.0).")


class BinaryCrossentropy(StrictModel):
    """Mean over the last axis of −[y·log p + (1−y)·log(1−p)]; targets smoothed to y·(1−ls) + ls/2."""

    type: Literal["binary_crossentropy"]
    label_smoothing: LabelSmoothing = 0.0
    from_logits: FromLogits = False


class CategoricalCrossentropy(StrictModel):
    """−Σ_c y_c·log softmax(z)_c with one-hot (or probability) targets smoothed to y·(1−ls) + ls/C."""

    type: Literal["categorical_crossentropy"]
    label_smoothing: LabelSmoothing = 0.0
    from_logits: FromLogits = False


class SparseCategoricalCrossentropy(StrictModel):
    """−log softmax(z)_y with integer class labels of shape (N,) or (N, 1)."""

    type: Literal["sparse_categorical_crossentropy"]
    from_logits: FromLogits = False


BUILTIN_LOSS_MODELS: list[type[StrictModel]] = [
    MSE, MAE, Huber, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
]

LossSpec = Annotated[
    Union[tuple(BUILTIN_LOSS_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(_loss_shorthand),
]
