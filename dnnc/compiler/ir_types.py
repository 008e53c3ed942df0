"""Typed values the IR carries inside nodes and parameters: activations, initializers, regularizers.

Each IR model is the spec's model of the same name with **every field
required**: the spec has defaults, the IR has none, because the compiler has
already resolved them (``{"type": "leaky_relu"}`` in a spec becomes
``LeakyReluIR(type="leaky_relu", negative_slope=0.01)`` in the IR).  Deriving
them from the spec models keeps one definition of each name, parameter and
bound; the spec models' validators (e.g. ``maxval > minval``) still apply.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticUndefined

from ..spec_schema.activations import ACTIVATION_MODELS
from ..spec_schema.initializers import INITIALIZER_MODELS


class IRModel(BaseModel):
    """Base of every typed IR value: frozen, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def required_fields(spec_model: type[BaseModel], name: str | None = None) -> type[BaseModel]:
    """The spec model with every default removed (subclassing it, so its validators still run)."""
    fields: dict[str, Any] = {}
    for field_name, info in spec_model.model_fields.items():
        required = copy.copy(info)
        required.default = PydanticUndefined
        required.default_factory = None
        fields[field_name] = (info.annotation, required)
    model = create_model(name or spec_model.__name__ + "IR", __base__=spec_model, __module__=__name__, **fields)
    model.__doc__ = spec_model.__doc__
    return model


def _union(models: list[type[BaseModel]]) -> Any:
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # type: ignore[valid-type]


ACTIVATION_IR_MODELS: list[type[BaseModel]] = [required_fields(m) for m in ACTIVATION_MODELS]
INITIALIZER_IR_MODELS: list[type[BaseModel]] = [required_fields(m) for m in INITIALIZER_MODELS]

#: An activation with every parameter explicit, e.g. ``{"type": "elu", "alpha": 1.0}``.
ActivationIR = _union(ACTIVATION_IR_MODELS)
#: An initializer with every parameter explicit, e.g. ``{"type": "random_normal", "mean": 0.0, "stddev": 0.05}``.
InitializerIR = _union(INITIALIZER_IR_MODELS)

_ACTIVATIONS = {m.model_fields["type"].annotation.__args__[0]: m for m in ACTIVATION_IR_MODELS}
_INITIALIZERS = {m.model_fields["type"].annotation.__args__[0]: m for m in INITIALIZER_IR_MODELS}


def activation_ir(value: Any) -> BaseModel:
    """An IR activation from a spec model or a complete dict (raises ValueError when incomplete)."""
    data = value.model_dump() if isinstance(value, BaseModel) else dict(value)
    return _lookup(_ACTIVATIONS, data, "activation").model_validate(data)


def initializer_ir(value: Any) -> BaseModel:
    """An IR initializer from a spec model or a complete dict."""
    data = value.model_dump() if isinstance(value, BaseModel) else dict(value)
    return _lookup(_INITIALIZERS, data, "initializer").model_validate(data)


def _lookup(table: dict[str, type[BaseModel]], data: dict, what: str) -> type[BaseModel]:
    kind = data.get("type")
    if kind not in table:
        raise ValueError(f"unknown {what} {kind!r} (known: {', '.join(sorted(table))})")
    return table[kind]


LINEAR: BaseModel = activation_ir({"type": "linear"})


class RegularizerIR(IRModel):
    """The penalty ``l1·Σ|w| + l2·Σw²`` on one parameter (every spec regularizer in this one form)."""

    l1: float = Field(..., ge=0)
    l2: float = Field(..., ge=0)

    @property
    def active(self) -> bool:
        return bool(self.l1 or self.l2)


def regularizer_ir(value: Any) -> RegularizerIR | None:
    """A spec regularizer (l1, l2 or l1_l2) as explicit factors; None for no regularizer."""
    if value is None:
        return None
    data = value.model_dump() if isinstance(value, BaseModel) else dict(value)
    return RegularizerIR(l1=float(data.get("l1", 0.0)), l2=float(data.get("l2", 0.0)))
