"""Base class and small helpers shared by every spec model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A spec table: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def type_shorthand(value: Any) -> Any:
    """Expand the string shorthand ``"adam"`` to the table ``{"type": "adam"}``."""
    if isinstance(value, str):
        return {"type": value}
    return value
