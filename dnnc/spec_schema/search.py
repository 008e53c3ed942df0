"""The `[search]` table: a hyperparameter search over the spec itself (`dnnc tune`).

    [search]
    trials = 20
    sampler = "random"        # random | tpe | grid
    metric = "val_loss"       # any per-epoch key of the history
    direction = "minimize"    # or "maximize"
    pruner = "median"         # median | hyperband | none
    seed = 0

    [search.space]
    "model.layers[0].times"            = { type = "int", low = 0, high = 3 }
    "training.optimizer.learning_rate" = { type = "float", low = 3e-4, high = 3e-2, log = true }

Each key of `[search.space]` is a path in the syntax of `--set`; each trial sets
every path to a sampled value and trains the resulting spec as written.  `train`
ignores the table.  The paths and ranges are checked against the spec before the
first trial (:mod:`dnnc.tune.check`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, model_validator

from .base import StrictModel


class FloatParam(StrictModel):
    """A real number in [low, high]: uniform, log-uniform (`log = true`), or on the grid low, low + step, … ≤ high."""

    type: Literal["float"]
    low: float = Field(..., description="Smallest value (included).")
    high: float = Field(..., description="Largest value (included).")
    log: bool = Field(False, description="Sample log-uniformly (needs low > 0; default false).")
    step: Optional[float] = Field(None, gt=0, description="Grid spacing from low (default: continuous); not with log.")

    @model_validator(mode="after")
    def _check_range(self) -> "FloatParam":
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high must be finite numbers (received low = {self.low}, high = {self.high})")
        _check_bounds(self.low, self.high, self.log, self.step, log_min=0.0)
        return self


class IntParam(StrictModel):
    """An integer in [low, high]: uniform, log-uniform (`log = true`), or low, low + step, … ≤ high."""

    type: Literal["int"]
    low: int = Field(..., description="Smallest value (included).")
    high: int = Field(..., description="Largest value (included unless the step skips it).")
    log: bool = Field(False, description="Sample log-uniformly (needs low ≥ 1 and step 1; default false).")
    step: int = Field(1, ge=1, description="Spacing from low (default 1).")

    @model_validator(mode="after")
    def _check_range(self) -> "IntParam":
        _check_bounds(self.low, self.high, self.log, self.step if self.step != 1 else None, log_min=1)
        return self


def _check_bounds(low, high, log: bool, step, *, log_min) -> None:
    if low > high:
        raise ValueError(f"low must be ≤ high (received low = {low}, high = {high})")
    too_small = low < log_min if isinstance(log_min, int) else low <= log_min
    if log and too_small:
        need = f"≥ {log_min}" if isinstance(log_min, int) else f"> {log_min:g}"
        raise ValueError(f"log = true needs low {need} (received low = {low})")
    if log and step is not None:
        raise ValueError(f"log = true cannot be combined with step (received step = {step})")


class CategoricalParam(StrictModel):
    """One of the listed values (any TOML value: a number, a string, a boolean, an array or a table)."""

    type: Literal["categorical"]
    choices: list[Any] = Field(..., min_length=1, description="The values to choose from, all different.")

    @model_validator(mode="after")
    def _distinct(self) -> "CategoricalParam":
        seen: list[Any] = []
        for value in self.choices:
            if any(_same(value, other) for other in seen):
                raise ValueError(f"choices must all be different (received {value!r} twice)")
            seen.append(value)
        return self


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


ParamSpec = Annotated[Union[FloatParam, IntParam, CategoricalParam], Field(discriminator="type")]

SEARCH_PARAM_MODELS = (FloatParam, IntParam, CategoricalParam)


class SearchSection(StrictModel):
    """How `dnnc tune` searches: trials, sampler, metric and direction, pruner, seed and the space."""

    trials: int = Field(20, ge=1, description="Number of trials one `dnnc tune` adds to the study (default 20; --trials).")
    sampler: Literal["random", "tpe", "grid"] = Field(
        "random", description='How values are chosen: "random" (default), "tpe" or "grid" (every combination).'
    )
    metric: str = Field("val_loss", min_length=1, description='Per-epoch history key to optimize (default "val_loss").')
    direction: Literal["minimize", "maximize"] = Field("minimize", description='"minimize" (default) or "maximize".')
    pruner: Literal["median", "hyperband", "none"] = Field(
        "none", description='Stop unpromising trials early from the per-epoch metric: "median", "hyperband" or "none" (default).'
    )
    seed: int = Field(0, ge=0, description="Seed of the sampler (default 0; worker w of a run uses seed + w).")
    space: dict[str, ParamSpec] = Field(
        ..., min_length=1, description="Path (the syntax of --set, e.g. \"model.layers[0].units\") → parameter table."
    )
