"""Lowering of each built-in layer type to an IR node: attributes, parameters, output shape.

One function per op family.  Each receives the validated layer table, the
shapes of its inputs and the model defaults, and returns a :class:`NodeDraft`
or raises :class:`LoweringError` (turned into a spec error at the layer's path).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..spec_schema.layers import BUILTIN_LAYER_MODELS, layer_type_name
from ..spec_schema.model import ModelDefaults

Shape = tuple[int, ...]


class LoweringError(Exception):
    """A semantic error in one layer; `key` is the layer key it concerns (e.g. "inputs")."""

    def __init__(self, message: str, key: str | None = None, received: Any = None, allowed: str | None = None):
        super().__init__(message)
        self.message, self.key, self.received, self.allowed = message, key, received, allowed


@dataclass(frozen=True)
class ParamDraft:
    name: str
    shape: Shape
    trainable: bool
    init: dict[str, Any]
    regularizer: dict[str, float] | None = None


@dataclass(frozen=True)
class NodeDraft:
    op: str
    shape: Shape
    attrs: dict[str, Any] = field(default_factory=dict)
    params: tuple[ParamDraft, ...] = ()


LowerFn = Callable[[Any, Sequence[Shape], ModelDefaults], NodeDraft]

DEFAULT_KERNEL_INIT = {"type": "glorot_uniform"}
DEFAULT_BIAS_INIT = {"type": "zeros"}
LINEAR = {"type": "linear"}


def _dump(model: Any) -> dict[str, Any] | None:
    return None if model is None else model.model_dump(mode="json")


def _regularizer(model: Any) -> dict[str, float] | None:
    """Every regularizer as explicit l1/l2 factors."""
    if model is None:
        return None
    d = model.model_dump()
    return {"l1": float(d.get("l1", 0.0)), "l2": float(d.get("l2", 0.0))}


def _single_input(shapes: Sequence[Shape], op: str) -> Shape:
    if len(shapes) != 1:
        raise LoweringError(f"{op} takes exactly one input", key="inputs", received=len(shapes), allowed="1 input")
    return shapes[0]


def _linear_params(layer: Any, fan_in: int, units: int, defaults: ModelDefaults) -> tuple[ParamDraft, ...]:
    kernel_init = _dump(layer.kernel_init) or _dump(defaults.kernel_init) or DEFAULT_KERNEL_INIT
    params = [ParamDraft("kernel", (fan_in, units), True, kernel_init,
                         _regularizer(layer.kernel_regularizer or defaults.kernel_regularizer))]
    if layer.use_bias:
        bias_init = _dump(layer.bias_init) or _dump(defaults.bias_init) or DEFAULT_BIAS_INIT
        params.append(ParamDraft("bias", (units,), True, bias_init,
                                 _regularizer(layer.bias_regularizer or defaults.bias_regularizer)))
    return tuple(params)


def lower_dense(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    shape = _single_input(shapes, "dense")
    return NodeDraft(
        op="dense",
        shape=shape[:-1] + (layer.units,),
        attrs={"units": layer.units, "use_bias": layer.use_bias, "activation": _dump(layer.activation) or LINEAR},
        params=_linear_params(layer, shape[-1], layer.units, defaults),
    )


def lower_maxout(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    shape = _single_input(shapes, "maxout")
    return NodeDraft(
        op="maxout",
        shape=shape[:-1] + (layer.units,),
        attrs={"units": layer.units, "pieces": layer.pieces, "use_bias": layer.use_bias},
        params=_linear_params(layer, shape[-1], layer.units * layer.pieces, defaults),
    )


def lower_flatten(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    shape = _single_input(shapes, "flatten")
    return NodeDraft(op="flatten", shape=(math.prod(shape),))


def lower_reshape(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    shape = _single_input(shapes, "reshape")
    size = math.prod(shape)
    target = list(layer.shape)
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if size % known:
            raise LoweringError(f"cannot reshape {size} values (input shape {list(shape)}) to {target}",
                                key="shape", received=target)
        target[target.index(-1)] = size // known
    elif known != size:
        raise LoweringError(f"cannot reshape {size} values (input shape {list(shape)}) to {target} ({known} values)",
                            key="shape", received=target)
    return NodeDraft(op="reshape", shape=tuple(target), attrs={"shape": list(target)})


def lower_batch_norm(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    shape = _single_input(shapes, "batch_norm")
    c = shape[-1]
    momentum = layer.momentum if layer.momentum is not None else defaults.batch_norm.momentum
    epsilon = layer.epsilon if layer.epsilon is not None else defaults.batch_norm.epsilon
    params = []
    if layer.scale:
        params.append(ParamDraft("gamma", (c,), True, {"type": "ones"}))
    if layer.center:
        params.append(ParamDraft("beta", (c,), True, {"type": "zeros"}))
    params += [ParamDraft("moving_mean", (c,), False, {"type": "zeros"}),
               ParamDraft("moving_variance", (c,), False, {"type": "ones"})]
    return NodeDraft(
        op="batch_norm",
        shape=shape,
        attrs={"axis": -1, "momentum": momentum, "epsilon": epsilon, "center": layer.center, "scale": layer.scale},
        params=tuple(params),
    )


def lower_dropout(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft(op="dropout", shape=_single_input(shapes, "dropout"), attrs={"rate": layer.rate})


def lower_activation(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    shape = _single_input(shapes, layer.type)
    if layer.type == "activation":
        act = _dump(layer.activation)
    else:  # an activation type used as a layer: its own fields minus the layer keys
        act = layer.model_dump(mode="json", exclude={"name", "inputs"})
    return NodeDraft(op="activation", shape=shape, attrs={"activation": act})


def _shapes_text(shapes: Sequence[Shape]) -> str:
    return ", ".join(str(list(s)) for s in shapes)


def lower_concatenate(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    if len(shapes) < 2:
        raise LoweringError("concatenate needs at least two inputs", key="inputs", received=len(shapes), allowed="≥ 2 inputs")
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise LoweringError(f"concatenate inputs must have the same rank (input shapes {_shapes_text(shapes)})",
                            key="inputs")
    rank = ranks.pop()
    # Keras counts the batch axis as 0 for non-negative axes.
    axis = layer.axis - 1 if layer.axis > 0 else layer.axis
    if layer.axis == 0 or not -rank <= axis < rank:
        raise LoweringError(f"axis out of range for inputs of rank {rank} (batch axis excluded)", key="axis",
                            received=layer.axis, allowed=f"1…{rank} or −{rank}…−1")
    axis = axis % rank - rank  # canonical: negative, counted from the last axis
    for s in shapes[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i - rank != axis):
            raise LoweringError(
                f"incompatible shapes for concatenate on axis {layer.axis}: {_shapes_text(shapes)} "
                f"(all axes but the concatenation axis must match)", key="inputs")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return NodeDraft(op="concatenate", shape=tuple(out), attrs={"axis": axis})


def lower_merge(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    op = layer.type
    if op == "subtract" and len(shapes) != 2:
        raise LoweringError("subtract takes exactly two inputs", key="inputs", received=len(shapes), allowed="2 inputs")
    if len(shapes) < 2:
        raise LoweringError(f"{op} needs at least two inputs", key="inputs", received=len(shapes), allowed="≥ 2 inputs")
    if len(set(shapes)) != 1:
        raise LoweringError(f"incompatible shapes for {op}: {_shapes_text(shapes)} (all inputs must have the same shape)",
                            key="inputs")
    return NodeDraft(op=op, shape=shapes[0])


MERGE_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum")


def builtin_lowerings() -> dict[str, LowerFn]:
    """Map every built-in layer type name to its lowering function."""
    table: dict[str, LowerFn] = {
        "dense": lower_dense, "maxout": lower_maxout, "flatten": lower_flatten, "reshape": lower_reshape,
        "batch_norm": lower_batch_norm, "dropout": lower_dropout, "concatenate": lower_concatenate,
        **{op: lower_merge for op in MERGE_OPS},
    }
    for model in BUILTIN_LAYER_MODELS:
        table.setdefault(layer_type_name(model), lower_activation)
    return table


#: The ops built-in lowerings produce; a backend declares which of them (and of plugin ops) it supports.
CORE_OPS: frozenset[str] = frozenset(
    {"input", "dense", "maxout", "flatten", "reshape", "batch_norm", "dropout", "activation", "concatenate", *MERGE_OPS}
)
