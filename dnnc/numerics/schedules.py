"""The learning rate of every update: one function, used by every backend.

The k-th parameter update (k counted from 0) uses ``learning_rate_at(spec, k)``.
The schedule formulas are the Keras 3 ones; the value is computed in float64
and then rounded to float32, the precision in which every backend stores it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Callable, Mapping

import numpy as np

Schedule = Mapping[str, Any]


def _exponential_decay(s: Schedule, step: int) -> float:
    p = step / s["decay_steps"]
    if s["staircase"]:
        p = math.floor(p)
    return s["initial_learning_rate"] * s["decay_rate"] ** p


def _piecewise_constant(s: Schedule, step: int) -> float:
    # values[i] applies to boundaries[i-1] < step <= boundaries[i]: the lower segment includes its boundary.
    return s["values"][bisect_left(s["boundaries"], step)]


def _cosine_decay(s: Schedule, step: int) -> float:
    ds = s["decay_steps"]
    fraction = min(step, ds) / ds
    cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
    return s["initial_learning_rate"] * ((1.0 - s["alpha"]) * cosine + s["alpha"])


def _polynomial_decay(s: Schedule, step: int) -> float:
    ds = s["decay_steps"]
    if s["cycle"]:
        # The first multiple of decay_steps that is >= step (1 at step 0).
        period = ds * (1 if step == 0 else math.ceil(step / ds))
        p = step / period
    else:
        p = min(step, ds) / ds
    end = s["end_learning_rate"]
    return (s["initial_learning_rate"] - end) * (1.0 - p) ** s["power"] + end


def _inverse_time_decay(s: Schedule, step: int) -> float:
    p = step / s["decay_steps"]
    if s["staircase"]:
        p = math.floor(p)
    return s["initial_learning_rate"] / (1.0 + s["decay_rate"] * p)


SCHEDULE_FUNCTIONS: dict[str, Callable[[Schedule, int], float]] = {
    "exponential_decay": _exponential_decay,
    "piecewise_constant": _piecewise_constant,
    "cosine_decay": _cosine_decay,
    "polynomial_decay": _polynomial_decay,
    "inverse_time_decay": _inverse_time_decay,
}
"""Schedule type → f(schedule IR dict, step) in float64, before rounding."""


def learning_rate_at(lr_spec: float | Schedule, step: int) -> float:
    """The learning rate of update number `step` (0-based), rounded to float32.

    `lr_spec` is an optimizer's IR `learning_rate`: a number (constant rate) or a
    schedule dict (the schedule model's ``model_dump()``, with its ``type``).
    """
    if step < 0:
        raise ValueError(f"step must be >= 0 (received {step})")
    if isinstance(lr_spec, Mapping):
        kind = lr_spec.get("type")
        try:
            fn = SCHEDULE_FUNCTIONS[kind]
        except KeyError:
            raise ValueError(
                f"unknown learning-rate schedule type {kind!r}; known: {', '.join(sorted(SCHEDULE_FUNCTIONS))}"
            ) from None
        value = fn(lr_spec, int(step))
    else:
        value = float(lr_spec)
    return float(np.float32(value))
