"""dnnc's own vocabulary, registered as an ordinary plugin (like pytest's built-in plugins)."""

from __future__ import annotations

from .markers import hookimpl
from .vocabulary import CallbackType, DatasetType, LayerType, type_tag


@hookimpl
def dnnc_layer_types() -> list[LayerType]:
    from ..compiler.lower_layers import builtin_lowerings
    from ..spec_schema.layers import BUILTIN_LAYER_MODELS

    lowerings = builtin_lowerings()
    return [LayerType(model, lowerings[type_tag(model)]) for model in BUILTIN_LAYER_MODELS]


@hookimpl
def dnnc_dataset_types() -> list[DatasetType]:
    from ..spec_schema.data import BUILTIN_DATASET_MODELS

    return [DatasetType(model) for model in BUILTIN_DATASET_MODELS]


@hookimpl
def dnnc_callback_types() -> list[CallbackType]:
    from ..spec_schema.callbacks import BUILTIN_CALLBACK_MODELS

    return [CallbackType(model) for model in BUILTIN_CALLBACK_MODELS]
