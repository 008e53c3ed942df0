"""Optimizers (`[training.optimizer]`).

dnnc defines each update rule once: the Keras 3 formula, with the Keras 3
default hyperparameters as dnnc's documented defaults (docs/optimizers.md).
Every optimizer also takes

* `weight_decay`: decoupled decay w ← w − lr·weight_decay·w applied to every
  trainable variable before the update (0.0 = none; adamw defaults to 0.004);
* at most one of `clipnorm` (per-variable norm), `global_clipnorm` (norm over
  all variables) and `clipvalue` (element-wise), applied to the gradients first.

`learning_rate` is a number >= 0 or a schedule table (see
:mod:`dnnc.spec_schema.schedules`).  The IR form of an optimizer is
``model.model_dump()``: every hyperparameter explicit.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, Tag, model_validator

from .base import StrictModel, type_shorthand
from .schedules import LearningRateValue, ScheduleSpec


def _lr_kind(value: Any) -> str:
    """A table (or an already-validated schedule) is a schedule; anything else must be a number."""
    return "schedule" if isinstance(value, (dict, BaseModel)) else "value"


LearningRate = Annotated[
    Union[Annotated[LearningRateValue, Tag("value")], Annotated[ScheduleSpec, Tag("schedule")]],
    Discriminator(_lr_kind),
]
"""A finite number >= 0, or a schedule table."""

Rate = Annotated[float, Field(ge=0, lt=1)]
"""A decay or momentum coefficient in [0, 1)."""

Epsilon = Annotated[float, Field(gt=0)]
WeightDecay = Annotated[
    float,
    Field(ge=0, description="Decoupled weight decay: w ← w − lr·weight_decay·w before each update."),
]
ClipThreshold = Optional[Annotated[float, Field(gt=0)]]

_CLIP_HELP = {
    "clipnorm": "> 0: rescale each variable's gradient to L2 norm <= clipnorm (default none).",
    "global_clipnorm": "> 0: rescale all gradients together to a joint L2 norm <= global_clipnorm (default none).",
    "clipvalue": "> 0: clip every gradient element to [−clipvalue, clipvalue] (default none).",
}


class _Optimizer(StrictModel):
    """Keys and checks shared by every optimizer."""

    weight_decay: WeightDecay = 0.0
    clipnorm: ClipThreshold = Field(None, description=_CLIP_HELP["clipnorm"])
    global_clipnorm: ClipThreshold = Field(None, description=_CLIP_HELP["global_clipnorm"])
    clipvalue: ClipThreshold = Field(None, description=_CLIP_HELP["clipvalue"])

    @model_validator(mode="after")
    def _one_clipping_option(self):
        chosen = {k: getattr(self, k) for k in ("clipnorm", "global_clipnorm", "clipvalue") if getattr(self, k) is not None}
        if len(chosen) > 1:
            received = ", ".join(f"{k}={v}" for k, v in chosen.items())
            raise ValueError(
                f"only one of clipnorm, global_clipnorm and clipvalue may be set (received {received})"
            )
        return self


class SGD(_Optimizer):
    """m ← momentum·m − lr·g; w ← w + m (Nesterov: w ← w + momentum·m − lr·g); plain w ← w − lr·g when momentum is 0."""

    type: Literal["sgd"]
    learning_rate: LearningRate = Field(0.01, description="Learning rate >= 0, or a schedule table (default 0.01).")
    momentum: Rate = Field(0.0, description="Momentum in [0, 1) (default 0.0).")
    nesterov: bool = Field(False, description="Nesterov momentum (default false).")


class Adam(_Optimizer):
    """Adam with Keras's ε placement: w ← w − lr·sqrt(1−β2^t)/(1−β1^t) · m / (sqrt(v) + ε)."""

    type: Literal["adam"]
    learning_rate: LearningRate = Field(1e-3, description="Learning rate >= 0, or a schedule table (default 0.001).")
    beta_1: Rate = Field(0.9, description="Decay of the first moment (default 0.9).")
    beta_2: Rate = Field(0.999, description="Decay of the second moment (default 0.999).")
    epsilon: Epsilon = Field(1e-7, description="Added to sqrt(v) before bias correction (default 1e-7).")
    amsgrad: bool = Field(False, description="Use the running maximum of v (default false).")


class AdamW(_Optimizer):
    """Adam with decoupled weight decay on by default (weight_decay 0.004)."""

    type: Literal["adamw"]
    learning_rate: LearningRate = Field(1e-3, description="Learning rate >= 0, or a schedule table (default 0.001).")
    beta_1: Rate = Field(0.9, description="Decay of the first moment (default 0.9).")
    beta_2: Rate = Field(0.999, description="Decay of the second moment (default 0.999).")
    epsilon: Epsilon = Field(1e-7, description="Added to sqrt(v) before bias correction (default 1e-7).")
    amsgrad: bool = Field(False, description="Use the running maximum of v (default false).")
    weight_decay: WeightDecay = 0.004


class Nadam(_Optimizer):
    """Adam with Nesterov momentum and the momentum schedule u_t = β1·(1 − ½·0.96^t)."""

    type: Literal["nadam"]
    learning_rate: LearningRate = Field(1e-3, description="Learning rate >= 0, or a schedule table (default 0.001).")
    beta_1: Rate = Field(0.9, description="Decay of the first moment (default 0.9).")
    beta_2: Rate = Field(0.999, description="Decay of the second moment (default 0.999).")
    epsilon: Epsilon = Field(1e-7, description="Added to sqrt(v̂) (default 1e-7).")


class Adamax(_Optimizer):
    """Adam with the infinity norm: u ← max(β2·u, |g|); w ← w − lr·m / ((1 − β1^t)(u + ε))."""

    type: Literal["adamax"]
    learning_rate: LearningRate = Field(1e-3, description="Learning rate >= 0, or a schedule table (default 0.001).")
    beta_1: Rate = Field(0.9, description="Decay of the first moment (default 0.9).")
    beta_2: Rate = Field(0.999, description="Decay of the infinity norm (default 0.999).")
    epsilon: Epsilon = Field(1e-7, description="Added to u (default 1e-7).")


class RMSprop(_Optimizer):
    """v ← ρv + (1−ρ)g²; step = lr·g / sqrt(v + ε) (centered: v − ā² + ε), with lr inside the momentum buffer."""

    type: Literal["rmsprop"]
    learning_rate: LearningRate = Field(1e-3, description="Learning rate >= 0, or a schedule table (default 0.001).")
    rho: Rate = Field(0.9, description="Decay of the mean square (default 0.9).")
    momentum: Rate = Field(0.0, description="Momentum in [0, 1) (default 0.0).")
    epsilon: Epsilon = Field(1e-7, description="Added inside the square root (default 1e-7).")
    centered: bool = Field(False, description="Subtract the squared mean gradient (default false).")


class Adagrad(_Optimizer):
    """acc ← acc + g² (acc starts at initial_accumulator_value); w ← w − lr·g / sqrt(acc + ε)."""

    type: Literal["adagrad"]
    learning_rate: LearningRate = Field(1e-3, description="Learning rate >= 0, or a schedule table (default 0.001).")
    initial_accumulator_value: float = Field(
        0.1, ge=0, description="Starting value of the accumulator (default 0.1)."
    )
    epsilon: Epsilon = Field(1e-7, description="Added inside the square root (default 1e-7).")


class Adadelta(_Optimizer):
    """Δ = sqrt(E[Δ²] + ε) / sqrt(E[g²] + ε) · g; w ← w − lr·Δ (note the Keras default lr 0.001, not 1.0)."""

    type: Literal["adadelta"]
    learning_rate: LearningRate = Field(1e-3, description="Learning rate >= 0, or a schedule table (default 0.001).")
    rho: Rate = Field(0.95, description="Decay of the running averages (default 0.95).")
    epsilon: Epsilon = Field(1e-7, description="Added inside both square roots (default 1e-7).")


BUILTIN_OPTIMIZER_MODELS: list[type[StrictModel]] = [SGD, Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad, Adadelta]

OptimizerSpec = Annotated[
    Union[tuple(BUILTIN_OPTIMIZER_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(type_shorthand),
]
