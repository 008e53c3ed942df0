"""The `[model]` table: inputs, layers (a DAG), outputs and per-model defaults."""

from __future__ import annotations

from typing import Literal, Annotated, Any, Optional, Union

from pydantic import BeforeValidator, Field, model_validator

from .base import StrictModel
from .initializers import InitializerSpec
from .layers import NAME_PATTERN, _as_list
from .regularizers import RegularizerSpec


class InputSpec(StrictModel):
    """A named model input."""

    name: str = Field(..., pattern=NAME_PATTERN, description="Input name, referenced by layers' `inputs` and data `features`.")
    shape: list[Annotated[int, Field(gt=0)]] = Field(..., min_length=1, description="Feature shape without the batch axis.")
    dtype: Literal["float32", "int64"] = Field(
        "float32", description='Element type: "float32" features, or "int64" token ids, which only embedding layers '
                               "read; checked against the data (default float32).")


class BatchNormDefaults(StrictModel):
    """Defaults for every batch_norm layer that does not set them."""

    momentum: float = Field(0.99, ge=0, lt=1, description="Moving-average momentum (default 0.99).")
    epsilon: float = Field(1e-3, gt=0, description="Variance epsilon (default 0.001).")


class ModelDefaults(StrictModel):
    """Values used by every layer that accepts the key and does not set it."""

    kernel_init: Optional[InitializerSpec] = Field(None, description="Default kernel initializer (else glorot_uniform).")
    bias_init: Optional[InitializerSpec] = Field(None, description="Default bias initializer (else zeros).")
    kernel_regularizer: Optional[RegularizerSpec] = Field(None, description="Default kernel penalty (else none).")
    bias_regularizer: Optional[RegularizerSpec] = Field(None, description="Default bias penalty (else none).")
    batch_norm: BatchNormDefaults = Field(default_factory=BatchNormDefaults)


class InitFrom(StrictModel):
    """Start from the weights of another trained network (transfer learning): its layers are copied into
    this model's layers of the same parameter shapes, every other layer is drawn from the seed as usual.
    `build` and `train` print which layers were copied and which were drawn fresh."""

    run: str = Field(
        ...,
        min_length=1,
        description=(
            "Where the weights come from, relative to the spec file: a run directory (its weights.npz, else its "
            "checkpoint.npz), a weights.npz or checkpoint.npz, an .npz of canonical weights (keys "
            "\"<layer>/<param>\"), or a saved model of an installed backend (.keras, .pt…) (required)."
        ),
    )
    layers: Optional[Union[Annotated[list[Annotated[str, Field(pattern=NAME_PATTERN)]], Field(min_length=1)],
                           dict[str, Annotated[str, Field(pattern=NAME_PATTERN)]]]] = Field(
        None,
        description=(
            "Which layers to copy: a list of names found in both networks, or a table this model's layer → the "
            "source's layer. A listed layer whose parameters differ in shape is an error naming both shapes "
            "(default: every layer whose name and parameter shapes match; the others are drawn fresh)."
        ),
    )


class ModelSectionBase(StrictModel):
    """Fields of `[model]` other than `layers` (whose union depends on the installed plugins)."""

    input_shape: Optional[list[Annotated[int, Field(gt=0)]]] = Field(
        None, min_length=1, description="Shape of the single input (named `input`), without the batch axis."
    )
    inputs: Optional[list[InputSpec]] = Field(None, min_length=1, description="Named inputs of a graph model.")
    outputs: Annotated[Optional[list[str]], BeforeValidator(_as_list)] = Field(
        None, min_length=1, description="Names of the output layers (default: the last layer)."
    )
    defaults: ModelDefaults = Field(default_factory=ModelDefaults)
    init_from: Optional[InitFrom] = Field(None, description="Copy trained layers from another network (default: none).")

    @model_validator(mode="before")
    @classmethod
    def _one_input_form(cls, data: Any) -> Any:
        if isinstance(data, dict):  # a JSON null counts as absent
            has_shape, has_inputs = data.get("input_shape") is not None, data.get("inputs") is not None
            if has_shape and has_inputs:
                raise ValueError("give either input_shape (one input) or inputs (named inputs), not both")
            if not has_shape and not has_inputs:
                raise ValueError("missing input_shape (one input) or inputs (named inputs)")
        return data
