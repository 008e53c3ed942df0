"""Lowering of each built-in layer type to an IR node: its op, attributes and parameter initializers.

One function per layer family.  Each receives the validated layer table, the
shapes of its inputs and the model defaults, resolves every default, and
returns a :class:`NodeDraft` — or raises :class:`LoweringError` (turned into a
spec error at the layer's path).  The output shape and the parameter shapes
are not computed here: :mod:`dnnc.compiler.lower` takes them from the op's
definition (:mod:`dnnc.compiler.ops`), the same rules the verifier checks.

Plugin layer types lower the same way (:class:`dnnc.plugins.vocabulary.LayerType`):
to a built-in op, or to an op of their own that they define.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..spec_schema.layers import BUILTIN_LAYER_MODELS, LayerBase, layer_type_name
from ..spec_schema.model import ModelDefaults
from .ir_types import LINEAR, activation_ir, initializer_ir, regularizer_ir
from .ops import BUILTIN_OPS, CORE_OPS, MERGE_OPS, LoweringError, OpAttrs, same_rank

__all__ = ["CORE_OPS", "LoweringError", "NodeDraft", "ParamDraft", "builtin_lowerings"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ParamDraft:
    """The initializer and regularizer chosen for one of the op's parameters (by canonical name)."""

    name: str
    init: Any
    regularizer: Any = None


@dataclass(frozen=True)
class NodeDraft:
    """What a lowering function returns: the op, its attributes (a dict or the op's attribute model) and,
    for each parameter the op defines, its initializer and regularizer.

    Parameters not listed get the op's default initializers: ``ones`` for a
    batch-norm gamma and moving variance, ``zeros`` for everything else.
    """

    op: str
    attrs: Mapping[str, Any] | OpAttrs = field(default_factory=dict)
    params: tuple[ParamDraft, ...] = ()


LowerFn = Callable[[Any, Sequence[Shape], ModelDefaults], NodeDraft]

DEFAULT_KERNEL_INIT = {"type": "glorot_uniform"}
DEFAULT_BIAS_INIT = {"type": "zeros"}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _linear_params(layer: Any, defaults: ModelDefaults) -> tuple[ParamDraft, ...]:
    params = [ParamDraft("kernel", initializer_ir(_first(layer.kernel_init, defaults.kernel_init) or DEFAULT_KERNEL_INIT),
                         regularizer_ir(_first(layer.kernel_regularizer, defaults.kernel_regularizer)))]
    if layer.use_bias:
        params.append(ParamDraft("bias", initializer_ir(_first(layer.bias_init, defaults.bias_init) or DEFAULT_BIAS_INIT),
                                 regularizer_ir(_first(layer.bias_regularizer, defaults.bias_regularizer))))
    return tuple(params)


def lower_dense(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    activation = activation_ir(layer.activation) if layer.activation is not None else LINEAR
    return NodeDraft("dense", {"units": layer.units, "use_bias": layer.use_bias, "activation": activation},
                     _linear_params(layer, defaults))


def lower_maxout(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("maxout", {"units": layer.units, "pieces": layer.pieces, "use_bias": layer.use_bias},
                     _linear_params(layer, defaults))


def lower_flatten(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("flatten")


def lower_reshape(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    """Resolve the one −1 entry, if any, from the input's size (the op checks the sizes match)."""
    BUILTIN_OPS["reshape"].check_arity(len(shapes))
    size = 1
    for d in shapes[0]:
        size *= d
    target = list(layer.shape)
    if -1 in target:
        known = 1
        for d in target:
            known *= d if d != -1 else 1
        if size % known:
            raise LoweringError(f"cannot reshape {size} values (input shape {list(shapes[0])}) to {target}",
                                key="shape", received=target)
        target[target.index(-1)] = size // known
    return NodeDraft("reshape", {"shape": tuple(target)})


def lower_batch_norm(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("batch_norm", {
        "axis": -1,
        "momentum": _first(layer.momentum, defaults.batch_norm.momentum),
        "epsilon": _first(layer.epsilon, defaults.batch_norm.epsilon),
        "center": layer.center,
        "scale": layer.scale,
        "inference_mode": not layer.trainable,  # a frozen batch norm uses its moving statistics (Keras 3)
    })


def lower_layer_norm(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("layer_norm", {"axis": -1, "epsilon": layer.epsilon, "center": layer.center, "scale": layer.scale})


def lower_dropout(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft(layer.type, {"rate": layer.rate})  # dropout, spatial_dropout2d


def lower_activation(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    if layer.type == "activation":
        act = activation_ir(layer.activation)
    else:  # an activation type used as a layer: its own fields minus the layer keys
        act = activation_ir(layer.model_dump(exclude=set(LayerBase.model_fields)))
    return NodeDraft("activation", {"activation": act})


def lower_concatenate(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    """Keras counts the batch axis as 0 for non-negative axes; the IR's axis is negative."""
    BUILTIN_OPS["concatenate"].check_arity(len(shapes))
    rank = same_rank(shapes, "concatenate")
    axis = layer.axis - 1 if layer.axis > 0 else layer.axis
    if layer.axis == 0 or not -rank <= axis < rank:
        raise LoweringError(f"axis out of range for inputs of rank {rank} (batch axis excluded)", key="axis",
                            received=layer.axis, allowed="1 or −1" if rank == 1 else f"1…{rank} or −{rank}…−1")
    return NodeDraft("concatenate", {"axis": axis % rank - rank})


def lower_merge(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft(layer.type)


def _per_axis(value: Any, rank: int, key: str) -> tuple[int, ...]:
    """An integer for every spatial axis, or a list with one entry per axis, as a tuple of `rank` entries."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise LoweringError(f"{key} needs one entry per spatial axis ({rank}) or a single integer", key=key,
                            received=list(value), allowed=f"an integer or {rank} integers")
    return tuple(value)


def _rank(layer_type: str) -> int:
    return int(layer_type[-2])  # conv1d, max_pool2d, global_avg_pool1d, …


def lower_conv(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    rank = _rank(layer.type)
    activation = activation_ir(layer.activation) if layer.activation is not None else LINEAR
    return NodeDraft(layer.type, {
        "filters": layer.filters, "kernel_size": _per_axis(layer.kernel_size, rank, "kernel_size"),
        "strides": _per_axis(layer.strides, rank, "strides"), "padding": layer.padding,
        "dilation_rate": _per_axis(layer.dilation_rate, rank, "dilation_rate"), "groups": layer.groups,
        "use_bias": layer.use_bias, "activation": activation,
    }, _linear_params(layer, defaults))


def lower_pool(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    """The strides default to the pool size (Keras)."""
    rank = _rank(layer.type)
    pool = _per_axis(layer.pool_size, rank, "pool_size")
    strides = pool if layer.strides is None else _per_axis(layer.strides, rank, "strides")
    return NodeDraft(layer.type, {"pool_size": pool, "strides": strides, "padding": layer.padding})


def lower_global_pool(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft(layer.type)


def lower_zero_padding(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    """p → ((p, p), (p, p)); [r, c] → ((r, r), (c, c)); [[t, b], [l, r]] as written (Keras's forms)."""
    p = layer.padding
    if isinstance(p, int):
        pads = ((p, p), (p, p))
    elif all(isinstance(v, int) for v in p):
        pads = ((p[0], p[0]), (p[1], p[1]))
    else:
        pads = (tuple(p[0]), tuple(p[1]))
    return NodeDraft("zero_padding2d", {"padding": pads})


def lower_upsampling(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("upsampling2d", {"size": _per_axis(layer.size, 2, "size"), "interpolation": layer.interpolation})


def builtin_lowerings() -> dict[str, LowerFn]:
    """Map every built-in layer type name to its lowering function."""
    table: dict[str, LowerFn] = {
        "dense": lower_dense, "maxout": lower_maxout, "flatten": lower_flatten, "reshape": lower_reshape,
        "batch_norm": lower_batch_norm, "layer_norm": lower_layer_norm, "dropout": lower_dropout, "spatial_dropout2d": lower_dropout,
        "zero_padding2d": lower_zero_padding, "upsampling2d": lower_upsampling, "concatenate": lower_concatenate,
        **{op: lower_merge for op in MERGE_OPS},
        **{f"conv{r}d": lower_conv for r in (1, 2)},
        **{f"{kind}_pool{r}d": lower_pool for kind in ("max", "avg") for r in (1, 2)},
        **{f"global_{kind}_pool{r}d": lower_global_pool for kind in ("max", "avg") for r in (1, 2)},
    }
    from .lower_recurrent import RECURRENT_LOWERINGS

    table.update(RECURRENT_LOWERINGS)
    for model in BUILTIN_LAYER_MODELS:
        table.setdefault(layer_type_name(model), lower_activation)
    return table
