"""Learning-rate schedules: a table in place of an optimizer's `learning_rate`.

A schedule is a function f(step) of the optimizer step, counted from 0: the
k-th parameter update (0-based) uses f(k).  The formulas are the Keras 3 ones
(`keras.optimizers.schedules`); every backend evaluates them through
:func:`dnnc.numerics.learning_rate_at`, so the values are identical everywhere.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field, model_validator

from .base import Float32, StrictModel, type_shorthand


LearningRateValue = Annotated[Float32, Field(ge=0)]
"""A learning rate >= 0 that float32 can hold (the runner rounds every rate to float32)."""

DecaySteps = Annotated[int, Field(gt=0, description="Steps over which the decay is measured (> 0).")]


class ExponentialDecay(StrictModel):
    """lr = initial_learning_rate · decay_rate^(step / decay_steps); the exponent is floored if `staircase`."""

    type: Literal["exponential_decay"]
    initial_learning_rate: LearningRateValue = Field(description="Learning rate at step 0 (required).")
    decay_steps: DecaySteps = Field(description="Steps per factor of decay_rate (required, > 0).")
    decay_rate: float = Field(gt=0, description="Factor per decay_steps steps (required, > 0).")
    staircase: bool = Field(False, description="Decay in whole multiples of decay_steps (default false).")


class PiecewiseConstant(StrictModel):
    """lr = values[0] for step <= boundaries[0], values[i] for boundaries[i-1] < step <= boundaries[i], values[-1] after."""

    type: Literal["piecewise_constant"]
    boundaries: list[Annotated[int, Field(ge=0)]] = Field(
        min_length=1, description="Strictly increasing step numbers (required, at least one)."
    )
    values: list[LearningRateValue] = Field(description="Learning rates, one more than the boundaries (required).")

    @model_validator(mode="after")
    def _check_lengths(self):
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                "values must have exactly one more entry than boundaries "
                f"(received {len(self.boundaries)} boundaries {self.boundaries} "
                f"and {len(self.values)} values {self.values})"
            )
        for a, b in zip(self.boundaries, self.boundaries[1:]):
            if b <= a:
                raise ValueError(f"boundaries must be strictly increasing (received {self.boundaries})")
        return self


class CosineDecay(StrictModel):
    """lr = initial_learning_rate · ((1 − alpha) · ½(1 + cos(π · min(step, decay_steps) / decay_steps)) + alpha)."""

    type: Literal["cosine_decay"]
    initial_learning_rate: LearningRateValue = Field(description="Learning rate at step 0 (required).")
    decay_steps: DecaySteps = Field(description="Steps to reach the final value (required, > 0).")
    alpha: float = Field(0.0, ge=0, le=1, description="Final learning rate as a fraction of the initial one (default 0.0).")


class PolynomialDecay(StrictModel):
    """lr = (initial − end) · (1 − step / decay_steps)^power + end, with step clamped to decay_steps unless `cycle`."""

    type: Literal["polynomial_decay"]
    initial_learning_rate: LearningRateValue = Field(description="Learning rate at step 0 (required).")
    decay_steps: DecaySteps = Field(description="Steps to reach end_learning_rate (required, > 0).")
    end_learning_rate: LearningRateValue = Field(1e-4, description="Final learning rate (default 0.0001).")
    power: float = Field(1.0, gt=0, description="Exponent of the polynomial (default 1.0).")
    cycle: bool = Field(
        False,
        description="After decay_steps, stretch the period to the next multiple of decay_steps instead of staying at the end value (default false).",
    )


class InverseTimeDecay(StrictModel):
    """lr = initial_learning_rate / (1 + decay_rate · step / decay_steps); the ratio is floored if `staircase`."""

    type: Literal["inverse_time_decay"]
    initial_learning_rate: LearningRateValue = Field(description="Learning rate at step 0 (required).")
    decay_steps: DecaySteps = Field(description="Steps per unit of decay (required, > 0).")
    decay_rate: float = Field(ge=0, description="Decay rate (required, >= 0).")
    staircase: bool = Field(False, description="Decay in whole multiples of decay_steps (default false).")


BUILTIN_SCHEDULE_MODELS: list[type[StrictModel]] = [
    ExponentialDecay, PiecewiseConstant, CosineDecay, PolynomialDecay, InverseTimeDecay,
]

ScheduleSpec = Annotated[
    Union[tuple(BUILTIN_SCHEDULE_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(type_shorthand),
]
