"""Weight regularizers: penalties added to the loss (not divided by the batch size)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field

from .base import StrictModel, type_shorthand


class L1(StrictModel):
    """Penalty l1·Σ|w|."""

    type: Literal["l1"]
    l1: float = Field(0.01, ge=0, description="L1 factor (default 0.01).")


class L2(StrictModel):
    """Penalty l2·Σw²."""

    type: Literal["l2"]
    l2: float = Field(0.01, ge=0, description="L2 factor (default 0.01).")


class L1L2(StrictModel):
    """Penalty l1·Σ|w| + l2·Σw²."""

    type: Literal["l1_l2"]
    l1: float = Field(0.0, ge=0, description="L1 factor (default 0.0).")
    l2: float = Field(0.0, ge=0, description="L2 factor (default 0.0).")


REGULARIZER_MODELS: list[type[StrictModel]] = [L1, L2, L1L2]

RegularizerSpec = Annotated[
    Union[tuple(REGULARIZER_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(type_shorthand),
]
