"""What a plugin contributes to the spec vocabulary: layer, dataset and callback types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

if TYPE_CHECKING:  # pragma: no cover
    from ..compiler.ops import OpDef


def type_tag(spec_model: type[BaseModel]) -> str:
    """The `type` value a spec model is discriminated by."""
    annotation = spec_model.model_fields["type"].annotation
    return annotation.__args__[0]


@dataclass(frozen=True)
class LayerType:
    """A layer type: its spec table, its lowering to an IR node and, for a new op, the op's definition.

    `lower(layer, input_shapes, defaults) -> dnnc.compiler.lower_layers.NodeDraft` receives the
    validated table, the output shapes of its inputs (batch axis excluded) and the
    model's `defaults`; it resolves every default and returns the node's op, attributes and the
    initializers of the op's parameters; it raises `dnnc.compiler.ops.LoweringError` for
    semantic errors.  The node's `op` names what a backend must implement: a built-in op
    (dnnc.compiler.ops.BUILTIN_OPS) or `op`, a :class:`dnnc.compiler.ops.OpDef` this plugin
    defines (attribute model, arity, shape rule, parameters), which joins the op table, so
    nodes of that op are verified like built-in ones.
    """

    spec_model: type[BaseModel]
    lower: Callable[..., Any]
    op: "OpDef | None" = None

    @property
    def name(self) -> str:
        return type_tag(self.spec_model)


@dataclass(frozen=True)
class DatasetType:
    """A dataset type: its spec table and a loader.

    `load(dataset, *, base_dir, data_dir, download) -> dnnc.runner.datasets.RawData`
    returns the raw arrays before the shared preprocessing.
    """

    spec_model: type[BaseModel]
    load: Callable[..., Any] | None = None

    @property
    def name(self) -> str:
        return type_tag(self.spec_model)


@dataclass(frozen=True)
class CallbackType:
    """A callback type: its spec table and a factory.

    `create(config: dict, context) -> dnnc.runner.callbacks.Callback` builds the runner
    callback from the callback's IR table (every default explicit); `context` is a
    `dnnc.runner.context.CallbackContext` (`ir`, `run_dir`, `message`).  During training the
    callback sees the run through `self.context`, the `dnnc.runner.context.TrainingContext`
    every callback gets (see docs/plugins.md, "Callbacks").
    """

    spec_model: type[BaseModel]
    create: Callable[..., Any] | None = None

    @property
    def name(self) -> str:
        return type_tag(self.spec_model)
