"""Base class and small helpers shared by every spec model."""

from __future__ import annotations

from typing import Annotated, Any, Callable, Mapping

from pydantic import AfterValidator, BaseModel, ConfigDict

FLOAT32_MAX = 3.4028234663852886e38
"""The largest float32. Weights and learning rates are float32, so the numbers that become them must fit."""


def _float32(value: float) -> float:
    if abs(value) > FLOAT32_MAX:
        raise ValueError(f"must be at most {FLOAT32_MAX:.8g} in magnitude: dnnc computes in float32")
    return value


Float32 = Annotated[float, AfterValidator(_float32)]
"""A finite number that float32 can hold (initializer parameters, learning rates)."""


class StrictModel(BaseModel):
    """A spec table: unknown keys are errors, values are immutable once validated.

    Numbers are numbers: validation is strict, so a boolean or a string is never
    read as a number (``batch_size = true``, ``units = "64"`` are errors), a
    fractional number is never read as an integer, and a number is never read
    as a boolean; an integer is accepted where a float is expected.  No float
    may be NaN or infinite.  Every model deriving from this class (the built-in
    tables and a plugin's own) follows these rules.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, strict=True, allow_inf_nan=False)


def type_shorthand(value: Any) -> Any:
    """Expand the string shorthand ``"adam"`` to the table ``{"type": "adam"}``."""
    if isinstance(value, str):
        return {"type": value}
    return value


def aliased_shorthand(aliases: Mapping[str, str]) -> Callable[[Any], Any]:
    """:func:`type_shorthand`, then a long ``type`` name replaced by its short one (``mean_squared_error`` → ``mse``)."""

    def expand(value: Any) -> Any:
        value = type_shorthand(value)
        if isinstance(value, dict):
            tag = value.get("type")
            if isinstance(tag, str) and tag in aliases:  # a table or array here is reported by the union
                value = {**value, "type": aliases[tag]}
        return value

    return expand
