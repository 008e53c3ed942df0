"""Metrics reported during training and evaluation.

`"accuracy"` is resolved by the compiler from the loss and output shape:
sparse labels → sparse categorical accuracy, one-hot → categorical accuracy,
one output unit or binary cross-entropy → binary accuracy (threshold 0.5 on the
probability, strictly greater).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BeforeValidator, Field

from .base import StrictModel, aliased_shorthand

_ALIASES = {"acc": "accuracy", "mean_squared_error": "mse", "mean_absolute_error": "mae"}


_metric_shorthand = aliased_shorthand(_ALIASES)


class _Metric(StrictModel):
    name: Optional[str] = Field(None, description="Name in the history (default: the type, e.g. `accuracy`).")


class Accuracy(_Metric):
    """Accuracy, resolved from the loss and the output shape."""

    type: Literal["accuracy"]


class BinaryAccuracy(_Metric):
    """Fraction of samples with (probability > threshold) == label."""

    type: Literal["binary_accuracy"]
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability threshold (default 0.5).")


class CategoricalAccuracy(_Metric):
    """argmax(prediction) == argmax(one-hot label)."""

    type: Literal["categorical_accuracy"]


class SparseCategoricalAccuracy(_Metric):
    """argmax(prediction) == integer label."""

    type: Literal["sparse_categorical_accuracy"]


class TopKAccuracy(_Metric):
    """The label is among the k highest-scoring classes."""

    type: Literal["top_k_accuracy"]
    k: int = Field(5, ge=1, description="k (default 5).")


class Mse(_Metric):
    """Mean squared error."""

    type: Literal["mse"]


class Mae(_Metric):
    """Mean absolute error."""

    type: Literal["mae"]


class Rmse(_Metric):
    """Root mean squared error over the epoch."""

    type: Literal["rmse"]


class Precision(_Metric):
    """Binary precision TP / (TP + FP) over the epoch."""

    type: Literal["precision"]
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability threshold (default 0.5).")


class Recall(_Metric):
    """Binary recall TP / (TP + FN) over the epoch."""

    type: Literal["recall"]
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability threshold (default 0.5).")


METRIC_MODELS: list[type[StrictModel]] = [
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKAccuracy,
    Mse, Mae, Rmse, Precision, Recall,
]

MetricSpec = Annotated[
    Union[tuple(METRIC_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(_metric_shorthand),
]
