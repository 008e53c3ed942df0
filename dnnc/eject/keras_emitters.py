"""One emitter per IR op for the ejected Keras 3 module (like the Keras backend's converters).

An emitter receives the node and the :class:`~dnnc.eject.context.EjectContext`
and returns a :class:`KerasNode`: the statements of ``build_model`` (functional
API, at one level of indentation) that create the node's stock Keras layers and
call them, and which variable of which layer holds each canonical parameter (for
``load_canonical_weights``).  The layer named like the node holds its parameters,
as in :mod:`dnnc.backends.keras.converters`; every hyperparameter is written
out, so no Keras default is relied on.

To add an op: write ``emit_<op>(node, ctx) -> KerasNode`` and register it in
:data:`EMITTERS` (docs/export.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..backends.keras.activations import PLAIN, fused_name
from ..compiler.ir import NodeIR
from ..compiler.ops import MERGE_OPS
from .code import INDENT, LINE_LENGTH, _argument, kw, py, statement
from .context import EjectContext, EjectError


@dataclass
class KerasWeight:
    """Canonical parameter → ``model.get_layer(layer).<attribute>``."""

    param: str
    layer: str
    attribute: str


@dataclass
class KerasNode:
    lines: list[str] = field(default_factory=list)
    weights: list[KerasWeight] = field(default_factory=list)


def layer_call(var: str, cls: str, args: Sequence[str], inputs: str) -> list[str]:
    """``var = layers.Cls(args…)(inputs)``, one argument per line (a magic trailing comma keeps it so)."""
    lines = [f"{INDENT}{var} = {cls}("]
    for a in args:
        lines += _argument(a, 2)
    one = f"{INDENT}){'(' + inputs + ')'}"
    if len(one) > LINE_LENGTH:  # pragma: no cover - inputs lists are short
        raise EjectError(f"the inputs of {var} are too long to lay out: {inputs}")
    return lines + [one]


def initializer_expr(init: Any) -> str:
    """The stock Keras initializer of an IR initializer, every argument explicit (seed=None: drawn from the
    global seed set by keras.utils.set_random_seed)."""
    k = "keras.initializers."
    kind = init.type
    named = {"glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform",
             "he_normal": "HeNormal", "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal"}
    if kind == "zeros":
        return k + "Zeros()"
    if kind == "ones":
        return k + "Ones()"
    if kind in named:
        return f"{k}{named[kind]}(seed=None)"
    if kind == "constant":
        return f"{k}Constant(value={py(float(init.value))})"
    if kind == "random_normal":
        return f"{k}RandomNormal({', '.join(kw(mean=float(init.mean), stddev=float(init.stddev), seed=None))})"
    if kind == "random_uniform":
        return f"{k}RandomUniform({', '.join(kw(minval=float(init.minval), maxval=float(init.maxval), seed=None))})"
    if kind == "truncated_normal":
        return f"{k}TruncatedNormal({', '.join(kw(mean=float(init.mean), stddev=float(init.stddev), seed=None))})"
    if kind == "variance_scaling":
        args = kw(scale=float(init.scale), mode=init.mode, distribution=init.distribution, seed=None)
        return f"{k}VarianceScaling({', '.join(args)})"
    raise EjectError(f"no Keras initializer for {kind!r}")


def regularizer_expr(reg: Any) -> str:
    if reg is None or not reg.active:
        return "None"
    return f"keras.regularizers.L1L2(l1={py(float(reg.l1))}, l2={py(float(reg.l2))})"


def activation_layer(act: Any, name: str, ctx: EjectContext) -> tuple[str, list[str]]:
    """(layer class, arguments) of the stock layer computing `act`."""
    kind = act.type
    if kind == "leaky_relu":
        return "layers.LeakyReLU", kw(negative_slope=float(act.negative_slope), name=name)
    if kind == "elu":
        return "layers.ELU", kw(alpha=float(act.alpha), name=name)
    if kind == "softmax":
        return "layers.Softmax", kw(axis=-1, name=name)
    if kind == "gelu":
        if act.approximate:
            ctx.need("gelu_tanh")
            return "layers.Activation", ["gelu_tanh", *kw(name=name)]
        return "layers.Activation", [py("gelu"), *kw(name=name)]
    if kind in PLAIN:
        return "layers.Activation", [py(PLAIN[kind]), *kw(name=name)]
    raise EjectError(f"no Keras layer for activation {kind!r}")


def _helper_name(node: NodeIR, suffix: str, ctx: EjectContext) -> str:
    """``<node>_<suffix>``, unique among the model's layer names (as the Keras backend names them)."""
    taken = ctx.layer_names
    base = f"{node.name}_{suffix}"
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def _dense_weights(node: NodeIR) -> list[KerasWeight]:
    return [KerasWeight(p.name, node.name, p.name) for p in node.params]


# -- emitters ------------------------------------------------------------------------------------------

def emit_input(node: NodeIR, ctx: EjectContext) -> KerasNode:
    shape = py(tuple(int(d) for d in node.shape))
    text = f"{ctx.var(node.name)} = keras.Input(shape={shape}, name={py(node.name)}, dtype={py(node.attrs.dtype)})"
    return KerasNode(statement(text, 1))


def _with_activation(node: NodeIR, ctx: EjectContext, cls: str, lead: list[str]) -> KerasNode:
    """The node's main layer ``cls(lead…, activation=…, use_bias=…, initializers, regularizers, name=…)``,
    followed by an activation layer of its own unless Keras fuses the activation into the layer."""
    act = node.attrs.activation
    fused = fused_name(act)
    var = ctx.var(node.name)
    args = [*lead, *kw(activation=fused or "linear"), *_param_args(node)]
    lines = layer_call(var, cls, args, ctx.input_var(node))
    if fused is None:
        act_cls, act_args = activation_layer(act, _helper_name(node, act.type, ctx), ctx)
        lines += layer_call(var, act_cls, act_args, var)
    return KerasNode(lines, _dense_weights(node))


def _param_args(node: NodeIR) -> list[str]:
    """use_bias, the initializers and regularizers of a kernel and bias, and the layer name."""
    params = {p.name: p for p in node.params}
    kernel, bias = params["kernel"], params.get("bias")
    return [
        *kw(use_bias=bool(node.attrs.use_bias)),
        f"kernel_initializer={initializer_expr(kernel.init)}",
        f"bias_initializer={initializer_expr(bias.init) if bias else 'keras.initializers.Zeros()'}",
        f"kernel_regularizer={regularizer_expr(kernel.regularizer)}",
        f"bias_regularizer={regularizer_expr(bias.regularizer) if bias else 'None'}",
        *kw(name=node.name),
    ]


def emit_dense(node: NodeIR, ctx: EjectContext) -> KerasNode:
    return _with_activation(node, ctx, "layers.Dense", kw(units=int(node.attrs.units)))


def emit_maxout(node: NodeIR, ctx: EjectContext) -> KerasNode:
    """Dense(units·pieces) → Reshape(rows, pieces) → the max over the pieces (GlobalMaxPooling1D on
    channels-first rows; on ties the gradient is split evenly, like torch's amax)."""
    a = node.attrs
    var = ctx.var(node.name)
    lead = tuple(node.shape[:-1])
    rows = math.prod(lead) * a.units
    lines = [f"{INDENT}# output j = max of the linear outputs j * {a.pieces} ... j * {a.pieces} + {a.pieces - 1}"]
    args = [*kw(units=int(a.units * a.pieces), activation="linear"), *_param_args(node)]
    lines += layer_call(var, "layers.Dense", args, ctx.input_var(node))
    lines += layer_call(var, "layers.Reshape", kw(target_shape=(rows, a.pieces), name=_helper_name(node, "pieces", ctx)),
                        var)
    lines += layer_call(var, "layers.GlobalMaxPooling1D", kw(data_format="channels_first", keepdims=False,
                                                             name=_helper_name(node, "max", ctx)), var)
    if lead:
        lines += layer_call(var, "layers.Reshape", kw(target_shape=tuple(int(d) for d in node.shape),
                                                      name=_helper_name(node, "units", ctx)), var)
    return KerasNode(lines, _dense_weights(node))


#: a normalisation's parameter → the initializer Keras gives it when the node has no such parameter
_NORM_FALLBACK = {"beta": "keras.initializers.Zeros()", "gamma": "keras.initializers.Ones()",
                  "moving_mean": "keras.initializers.Zeros()", "moving_variance": "keras.initializers.Ones()"}


def _norm_args(node: NodeIR, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(``<name>_initializer=…`` for each of `names`, ``beta_regularizer=…``, ``gamma_regularizer=…``) of a
    batch or layer norm; a parameter the node lacks (no center or scale) gets Keras's own value."""
    params = {p.name: p for p in node.params}
    initializers = [f"{n}_initializer={initializer_expr(params[n].init) if n in params else _NORM_FALLBACK[n]}"
                    for n in names]
    regularizers = [f"{n}_regularizer={regularizer_expr(params[n].regularizer) if n in params else 'None'}"
                    for n in ("beta", "gamma")]
    return initializers, regularizers


def emit_batch_norm(node: NodeIR, ctx: EjectContext) -> KerasNode:
    """Keras's BatchNormalization is dnnc's batch_norm: biased batch variance, moving = m·moving + (1 − m)·batch."""
    a = node.attrs
    initializers, regularizers = _norm_args(node, ("beta", "gamma", "moving_mean", "moving_variance"))
    args = [
        *kw(axis=a.axis, momentum=float(a.momentum), epsilon=float(a.epsilon), center=bool(a.center),
            scale=bool(a.scale)),
        *initializers,
        *regularizers,
        *kw(synchronized=False, name=node.name),
    ]
    return KerasNode(layer_call(ctx.var(node.name), "layers.BatchNormalization", args, ctx.input_var(node)),
                     _dense_weights(node))


def emit_dropout(node: NodeIR, ctx: EjectContext) -> KerasNode:
    args = kw(rate=float(node.attrs.rate), noise_shape=None, seed=None, name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), "layers.Dropout", args, ctx.input_var(node)))


def emit_activation(node: NodeIR, ctx: EjectContext) -> KerasNode:
    cls, args = activation_layer(node.attrs.activation, node.name, ctx)
    return KerasNode(layer_call(ctx.var(node.name), cls, args, ctx.input_var(node)))


def emit_flatten(node: NodeIR, ctx: EjectContext) -> KerasNode:
    args = kw(data_format="channels_last", name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), "layers.Flatten", args, ctx.input_var(node)))


def emit_reshape(node: NodeIR, ctx: EjectContext) -> KerasNode:
    args = kw(target_shape=tuple(int(d) for d in node.attrs.shape), name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), "layers.Reshape", args, ctx.input_var(node)))


def emit_concatenate(node: NodeIR, ctx: EjectContext) -> KerasNode:
    xs = "[" + ", ".join(ctx.var(i) for i in node.inputs) + "]"
    args = kw(axis=int(node.attrs.axis), name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), "layers.Concatenate", args, xs))


def emit_merge(node: NodeIR, ctx: EjectContext) -> KerasNode:
    cls = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average",
           "maximum": "Maximum", "minimum": "Minimum"}[node.op]
    xs = "[" + ", ".join(ctx.var(i) for i in node.inputs) + "]"
    return KerasNode(layer_call(ctx.var(node.name), f"layers.{cls}", kw(name=node.name), xs))


# -- spatial ops (stock channels-last layers: Keras's 'same' padding and pooling are TensorFlow's rule) ----

_POOLS = {"max_pool1d": "MaxPooling1D", "max_pool2d": "MaxPooling2D",
          "avg_pool1d": "AveragePooling1D", "avg_pool2d": "AveragePooling2D"}
_GLOBAL_POOLS = {"global_max_pool1d": "GlobalMaxPooling1D", "global_max_pool2d": "GlobalMaxPooling2D",
                 "global_avg_pool1d": "GlobalAveragePooling1D", "global_avg_pool2d": "GlobalAveragePooling2D"}


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def emit_conv(node: NodeIR, ctx: EjectContext) -> KerasNode:
    """Conv1D/Conv2D: kernel (*window, in/groups, filters), dnnc's canonical layout."""
    a = node.attrs
    cls = "layers.Conv1D" if node.op == "conv1d" else "layers.Conv2D"
    lead = kw(filters=int(a.filters), kernel_size=_ints(a.kernel_size), strides=_ints(a.strides), padding=a.padding,
              data_format="channels_last", dilation_rate=_ints(a.dilation_rate), groups=int(a.groups))
    return _with_activation(node, ctx, cls, lead)


def emit_pool(node: NodeIR, ctx: EjectContext) -> KerasNode:
    """'same' average pooling divides by the window's real cells (TensorFlow's rule, as dnnc)."""
    a = node.attrs
    args = kw(pool_size=_ints(a.pool_size), strides=_ints(a.strides), padding=a.padding, data_format="channels_last",
              name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), f"layers.{_POOLS[node.op]}", args, ctx.input_var(node)))


def emit_global_pool(node: NodeIR, ctx: EjectContext) -> KerasNode:
    args = kw(data_format="channels_last", keepdims=False, name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), f"layers.{_GLOBAL_POOLS[node.op]}", args, ctx.input_var(node)))


def emit_layer_norm(node: NodeIR, ctx: EjectContext) -> KerasNode:
    a = node.attrs
    initializers, regularizers = _norm_args(node, ("beta", "gamma"))
    args = [
        *kw(axis=int(a.axis), epsilon=float(a.epsilon), center=bool(a.center), scale=bool(a.scale), rms_scaling=False),
        *initializers,
        *regularizers,
        *kw(name=node.name),
    ]
    return KerasNode(layer_call(ctx.var(node.name), "layers.LayerNormalization", args, ctx.input_var(node)),
                     _dense_weights(node))


def emit_zero_padding2d(node: NodeIR, ctx: EjectContext) -> KerasNode:
    """padding ((top, bottom), (left, right))."""
    args = kw(padding=tuple(_ints(p) for p in node.attrs.padding), data_format="channels_last", name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), "layers.ZeroPadding2D", args, ctx.input_var(node)))


def emit_upsampling2d(node: NodeIR, ctx: EjectContext) -> KerasNode:
    args = kw(size=_ints(node.attrs.size), data_format="channels_last", interpolation=node.attrs.interpolation,
              name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), "layers.UpSampling2D", args, ctx.input_var(node)))


def emit_spatial_dropout2d(node: NodeIR, ctx: EjectContext) -> KerasNode:
    """Whole channels dropped: one keep value per sample and channel (noise shape (batch, 1, 1, C))."""
    args = kw(rate=float(node.attrs.rate), data_format="channels_last", seed=None, name=node.name)
    return KerasNode(layer_call(ctx.var(node.name), "layers.SpatialDropout2D", args, ctx.input_var(node)))


Emitter = Callable[[NodeIR, EjectContext], KerasNode]

EMITTERS: dict[str, Emitter] = {
    "input": emit_input,
    "dense": emit_dense,
    "maxout": emit_maxout,
    "batch_norm": emit_batch_norm,
    "layer_norm": emit_layer_norm,
    "dropout": emit_dropout,
    "activation": emit_activation,
    "flatten": emit_flatten,
    "reshape": emit_reshape,
    "concatenate": emit_concatenate,
    **{op: emit_merge for op in MERGE_OPS},
    **{f"conv{r}d": emit_conv for r in (1, 2)},
    **{op: emit_pool for op in _POOLS},
    **{op: emit_global_pool for op in _GLOBAL_POOLS},
    "zero_padding2d": emit_zero_padding2d,
    "upsampling2d": emit_upsampling2d,
    "spatial_dropout2d": emit_spatial_dropout2d,
}
"""IR op → emitter of the ejected Keras module."""
