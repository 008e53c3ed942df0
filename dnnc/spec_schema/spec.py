"""The whole spec: the top-level model, assembled from the installed vocabulary.

Layer, dataset and callback tables are discriminated unions whose members come
from the built-in vocabulary plus every plugin's contributions, so the model
class is built at run time (:func:`build_spec_model`) and cached per vocabulary.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Optional, Union

from pydantic import BeforeValidator, Field, create_model, field_validator

from .base import StrictModel, type_shorthand
from .data import DataSpec
from .model import ModelSectionBase
from .repeat import RepeatBlockBase
from .search import SearchSection
from .training import ConformanceSection, TrainingSectionBase

SUPPORTED_SPEC_VERSIONS = (1,)


def _union(models: tuple[type[StrictModel], ...]) -> Any:
    if len(models) == 1:
        return Annotated[models[0], BeforeValidator(type_shorthand)]
    return Annotated[Union[models], Field(discriminator="type"), BeforeValidator(type_shorthand)]  # type: ignore[valid-type]


class SpecBase(StrictModel):
    """Top-level keys other than the plugin-dependent sections."""

    spec_version: int = Field(1, description="Version of the spec format (supported: 1).")
    name: Optional[str] = Field(None, min_length=1, description="Name of the network (default: the file name without suffix).")
    description: Optional[str] = Field(None, description="Free text.")
    conformance: ConformanceSection = Field(default_factory=ConformanceSection)
    search: Optional[SearchSection] = Field(
        None, description="A hyperparameter search over this spec, run by `dnnc tune` (ignored by `train`)."
    )

    @field_validator("spec_version")
    @classmethod
    def _supported_version(cls, v: int) -> int:
        if v not in SUPPORTED_SPEC_VERSIONS:
            allowed = ", ".join(map(str, SUPPORTED_SPEC_VERSIONS))
            raise ValueError(f"unsupported spec_version {v}; this dnnc reads spec_version {allowed}")
        return v


def _layer_item(layer_models: tuple[type[StrictModel], ...]) -> Any:
    """One entry of a layer list: a layer of the vocabulary or a repeat block (whose `layers` are entries too)."""
    repeat = create_model(
        "Repeat",
        __base__=RepeatBlockBase,
        __doc__=RepeatBlockBase.__doc__,
        layers=(list["LayerItem"], Field(..., min_length=1, description="The layers to repeat, in order.")),
    )
    item = _union(layer_models + (repeat,))
    repeat.model_rebuild(_types_namespace={"LayerItem": item})
    return item


@lru_cache(maxsize=8)
def build_spec_model(
    layer_models: tuple[type[StrictModel], ...],
    dataset_models: tuple[type[StrictModel], ...],
    callback_models: tuple[type[StrictModel], ...],
) -> type[SpecBase]:
    """Assemble the top-level spec model for the given vocabulary."""
    layer_item = _layer_item(layer_models)
    model_section = create_model(
        "ModelSection",
        __base__=ModelSectionBase,
        __doc__="The network: inputs, layers (a DAG) and outputs.",
        layers=(list[layer_item], Field(..., min_length=1, description="The layers, in order.")),
    )
    training_section = create_model(
        "TrainingSection",
        __base__=TrainingSectionBase,
        __doc__="Loss, optimizer, metrics, batch size, epochs, seed and callbacks.",
        callbacks=(list[_union(callback_models)], Field(default_factory=list, description="Callbacks, run in order.")),
    )
    data_section = create_model(
        "DataSection",
        __base__=DataSpec,
        __doc__=DataSpec.__doc__,
        dataset=(_union(dataset_models), Field(..., description="The dataset: a name or a table with `type`.")),
    )
    return create_model(
        "Spec",
        __base__=SpecBase,
        __doc__="A dnnc network spec.",
        data=(Optional[data_section], Field(None, description="Where the data comes from and how it is prepared.")),
        model=(model_section, ...),
        training=(Optional[training_section], Field(None, description="How to train (needed by train and conform).")),
    )
