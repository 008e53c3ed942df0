"""The search space: one :class:`Param` per key of `[search.space]`.

A parameter is named by its path exactly as written (``"model.layers[0].times"``):
that name is the Optuna parameter name, the column of the results table and the
key of ``--set`` overrides.  A trial's values become ``--set path=value``
overrides of the spec file, applied in the order the keys are written, so a
trial's run directory records in its manifest exactly what changed.

Categorical choices that are not plain scalars (tables, arrays) are given to
Optuna as their TOML text (``'{ type = "adam" }'``), which plots and tables
show, and mapped back to the value itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..compiler.errors import Loc
from ..spec_schema.search import CategoricalParam, FloatParam, IntParam
from .toml_values import toml_value

if TYPE_CHECKING:  # pragma: no cover
    import optuna

Scalar = (bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One searched path and its distribution."""

    key: str
    """The path as written in `[search.space]`: the parameter's name everywhere."""
    path: Loc
    """The parsed path, e.g. ``("model", "layers", 0, "times")``."""
    spec: FloatParam | IntParam | CategoricalParam

    # -- values -----------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.spec.type

    @property
    def high(self) -> float | int:
        """The largest value a trial can take (``high`` lowered onto the step grid)."""
        spec = self.spec
        if isinstance(spec, IntParam):
            return spec.low + (spec.high - spec.low) // spec.step * spec.step
        if isinstance(spec, FloatParam) and spec.step is not None:
            low, step = Decimal(repr(spec.low)), Decimal(repr(spec.step))
            return float(low + ((Decimal(repr(spec.high)) - low) // step) * step)
        return spec.high  # type: ignore[union-attr]

    def labels(self) -> list[Any]:
        """The categorical choices as Optuna sees them (scalars as they are, the rest as TOML text)."""
        assert isinstance(self.spec, CategoricalParam)
        return [c if isinstance(c, Scalar) else toml_value(c) for c in self.spec.choices]

    def to_spec_value(self, sampled: Any) -> Any:
        """The spec value of what Optuna sampled (a categorical label back to its choice)."""
        if isinstance(self.spec, CategoricalParam):
            return self.spec.choices[self.labels().index(sampled)]
        return sampled

    def probes(self) -> list[tuple[str, Any]]:
        """(description, value) of the values checked before the first trial: both ends, or every choice."""
        spec = self.spec
        if isinstance(spec, CategoricalParam):
            return [(f"choice {toml_value(c)}", c) for c in spec.choices]
        high = self.high
        ends = [(f"low = {toml_value(spec.low)}", spec.low)]
        if high != spec.low:
            ends.append((f"high = {toml_value(high)}" + ("" if high == spec.high else f" (the last step ≤ {spec.high})"),
                         high))
        return ends

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler (int, categorical, float with a step)."""
        spec = self.spec
        if isinstance(spec, CategoricalParam):
            return self.labels()
        if isinstance(spec, IntParam) and not spec.log:
            return list(range(spec.low, int(self.high) + 1, spec.step))
        if isinstance(spec, IntParam):
            return list(range(spec.low, spec.high + 1))
        if spec.step is not None:
            low, step = Decimal(repr(spec.low)), Decimal(repr(spec.step))
            count = int((Decimal(repr(self.high)) - low) / step) + 1
            return [float(low + k * step) for k in range(count)]
        raise ValueError(f"{self.key}: a continuous float parameter has no grid")

    @property
    def has_grid(self) -> bool:
        return not (isinstance(self.spec, FloatParam) and self.spec.step is None)

    # -- Optuna -----------------------------------------------------------------
    def suggest(self, trial: "optuna.trial.Trial") -> Any:
        """Sample this parameter in ``trial``; returns the spec value."""
        spec = self.spec
        if isinstance(spec, FloatParam):
            return trial.suggest_float(self.key, spec.low, self.high, step=spec.step, log=spec.log)
        if isinstance(spec, IntParam):
            return trial.suggest_int(self.key, spec.low, int(self.high), step=spec.step, log=spec.log)
        return self.to_spec_value(trial.suggest_categorical(self.key, self.labels()))


def overrides(params: list[Param], values: dict[str, Any]) -> list[str]:
    """The ``--set`` texts of one trial, in the order of the space."""
    return [f"{p.key}={toml_value(values[p.key])}" for p in params if p.key in values]


def spec_values(params: list[Param], sampled: dict[str, Any]) -> dict[str, Any]:
    """Optuna's ``trial.params`` (categorical labels) → spec values, for the parameters of this space."""
    return {p.key: p.to_spec_value(sampled[p.key]) for p in params if p.key in sampled}
