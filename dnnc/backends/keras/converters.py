"""One converter per IR op: the stock Keras layers computing it, every hyperparameter explicit.

A converter receives the IR node and the :class:`BuildContext` and returns a
:class:`NodeLayers`: the node's Keras layers (the first one is named exactly
like the node and holds the node's parameters under their canonical names,
e.g. ``layer.kernel``) and a ``call(inputs, training)`` applying them.  The
same layer objects serve the saved functional ``keras.Model`` and the direct
graph executor of :mod:`.graph` (the dropout-mask path).

``supported_ops`` of the backend is the key set of :data:`CONVERTERS`, so a
missing op is one obvious gap.  This module does not import keras; the
context carries the imported module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ...compiler.ir import NodeIR
from .activations import activation_layer, fused_name
from .recurrent import RECURRENT_BINDINGS, RECURRENT_CONVERTERS
from .runtime import derived_seed

Call = Callable[[Sequence[Any], Any], Any]


@dataclass
class BuildContext:
    """What converters share: the keras module, the spec seed and the layer names taken so far."""

    keras: Any
    seed: int
    used_names: set[str] = field(default_factory=set)

    def helper_name(self, node: NodeIR, suffix: str) -> str:
        """A unique name for an extra layer of `node`: ``<node>_<suffix>`` (``_2``, ``_3``… on a clash)."""
        base = f"{node.name}_{suffix}"
        name, i = base, 1
        while name in self.used_names:
            i += 1
            name = f"{base}_{i}"
        self.used_names.add(name)
        return name


@dataclass
class NodeLayers:
    """The Keras layers of one IR node and how to apply them."""

    layers: list[Any]
    call: Call | None  # None for input nodes (the graph creates keras.Input)

    @property
    def main(self) -> Any:
        """The layer named like the node (holding its parameters), or None."""
        return self.layers[0] if self.layers else None


# -- helpers -------------------------------------------------------------------

def keras_initializer(keras, init: Any):
    """The Keras initializer matching an IR initializer (recorded in the artifact's config only:
    the actual initial values are always dnnc's canonical weights)."""
    k = keras.initializers
    kind = init.type
    simple = {"zeros": k.Zeros, "ones": k.Ones, "glorot_uniform": k.GlorotUniform, "glorot_normal": k.GlorotNormal,
              "he_uniform": k.HeUniform, "he_normal": k.HeNormal, "lecun_uniform": k.LecunUniform,
              "lecun_normal": k.LecunNormal}
    if kind in simple:
        return simple[kind]()
    if kind == "constant":
        return k.Constant(value=float(init.value))
    if kind == "random_normal":
        return k.RandomNormal(mean=float(init.mean), stddev=float(init.stddev))
    if kind == "random_uniform":
        return k.RandomUniform(minval=float(init.minval), maxval=float(init.maxval))
    if kind == "truncated_normal":
        return k.TruncatedNormal(mean=float(init.mean), stddev=float(init.stddev))
    if kind == "variance_scaling":
        return k.VarianceScaling(scale=float(init.scale), mode=init.mode, distribution=init.distribution)
    if kind == "orthogonal":
        return k.Orthogonal(gain=float(init.gain))
    from ..base import BackendError

    raise BackendError(f"the keras backend has no initializer {kind!r}")


def keras_regularizer(keras, reg: Any):
    """``L1L2(l1, l2)`` for an IR regularizer (recorded in the artifact; dnnc adds the penalty itself)."""
    if reg is None or not reg.active:
        return None
    return keras.regularizers.L1L2(l1=float(reg.l1), l2=float(reg.l2))


def _param_options(keras, node: NodeIR) -> dict[str, Any]:
    params = {p.name: p for p in node.params}
    kernel, bias = params["kernel"], params.get("bias")
    return {
        "kernel_initializer": keras_initializer(keras, kernel.init),
        "bias_initializer": keras_initializer(keras, bias.init) if bias else "zeros",
        "kernel_regularizer": keras_regularizer(keras, kernel.regularizer),
        "bias_regularizer": keras_regularizer(keras, bias.regularizer) if bias else None,
    }


def set_layer_trainable(node: NodeIR, layers: NodeLayers) -> None:
    """The ``trainable`` flag of the node's main layer (the one holding its parameters).

    A Keras ``BatchNormalization`` with ``trainable = False`` runs in inference mode whatever ``training``
    says (Keras 3), which is what the IR's ``inference_mode`` asks for, so a batch norm's flag is read
    from that attribute; every other layer with parameters takes the node's flag.
    """
    if not node.params:
        return
    layers.main.trainable = not node.attrs.inference_mode if node.op == "batch_norm" else node.trainable


def _single(layer) -> Call:
    return lambda xs, training: layer(xs[0])


# -- converters ------------------------------------------------------------------

def convert_input(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """Model inputs become ``keras.Input(shape, name)`` in the graph builder."""
    return NodeLayers([], None)


def convert_dense(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    keras = ctx.keras
    fused = fused_name(node.attrs.activation)
    dense = keras.layers.Dense(
        units=node.attrs.units, activation=fused or "linear", use_bias=node.attrs.use_bias,
        name=node.name, **_param_options(keras, node),
    )
    return _with_activation(node, ctx, dense, fused)


def _with_activation(node: NodeIR, ctx: BuildContext, main: Any, fused: str | None) -> NodeLayers:
    """The node's main layer, followed by a separate activation layer unless the activation is fused into it."""
    if fused is not None:
        return NodeLayers([main], _single(main))
    act = node.attrs.activation
    act_layer = activation_layer(ctx.keras, act, ctx.helper_name(node, act.type))
    return NodeLayers([main, act_layer], lambda xs, training: act_layer(main(xs[0])))


def convert_conv(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """``Conv1D``/``Conv2D`` channels-last: kernel (*window, in/groups, filters), TensorFlow's 'same' padding."""
    a = node.attrs
    fused = fused_name(a.activation)
    cls = ctx.keras.layers.Conv1D if node.op == "conv1d" else ctx.keras.layers.Conv2D
    conv = cls(filters=a.filters, kernel_size=tuple(a.kernel_size), strides=tuple(a.strides), padding=a.padding,
               data_format="channels_last", dilation_rate=tuple(a.dilation_rate), groups=a.groups,
               activation=fused or "linear", use_bias=a.use_bias, name=node.name, **_param_options(ctx.keras, node))
    return _with_activation(node, ctx, conv, fused)


_POOLS = {"max_pool1d": "MaxPooling1D", "max_pool2d": "MaxPooling2D",
          "avg_pool1d": "AveragePooling1D", "avg_pool2d": "AveragePooling2D"}
_GLOBAL_POOLS = {"global_max_pool1d": "GlobalMaxPooling1D", "global_max_pool2d": "GlobalMaxPooling2D",
                 "global_avg_pool1d": "GlobalAveragePooling1D", "global_avg_pool2d": "GlobalAveragePooling2D"}


def convert_pool(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """Keras pooling, channels-last; 'same' average pooling does not count padded cells (TensorFlow's rule)."""
    a = node.attrs
    layer = getattr(ctx.keras.layers, _POOLS[node.op])(pool_size=tuple(a.pool_size), strides=tuple(a.strides),
                                                       padding=a.padding, data_format="channels_last", name=node.name)
    return NodeLayers([layer], _single(layer))


def convert_global_pool(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    layer = getattr(ctx.keras.layers, _GLOBAL_POOLS[node.op])(data_format="channels_last", keepdims=False,
                                                              name=node.name)
    return NodeLayers([layer], _single(layer))


def convert_maxout(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """Dense(units·pieces) → Reshape(…, units, pieces) → max over the pieces.

    Output j is the max of linear outputs j·pieces … j·pieces + pieces − 1.  The
    max is ``GlobalMaxPooling1D(data_format="channels_first")`` on (rows, pieces),
    a stock layer (``reduce_max``: on ties the gradient is split evenly, like
    torch's ``amax``); inputs of rank > 1 are flattened to rows and restored.
    """
    keras = ctx.keras
    units, pieces = node.attrs.units, node.attrs.pieces
    lead = tuple(node.shape[:-1])
    dense = keras.layers.Dense(units=units * pieces, activation="linear", use_bias=node.attrs.use_bias,
                               name=node.name, **_param_options(keras, node))
    rows = math.prod(lead) * units
    group = keras.layers.Reshape(target_shape=(rows, pieces), name=ctx.helper_name(node, "pieces"))
    pool = keras.layers.GlobalMaxPooling1D(data_format="channels_first", keepdims=False,
                                           name=ctx.helper_name(node, "max"))
    layers = [dense, group, pool]
    if lead:
        restore = keras.layers.Reshape(target_shape=tuple(node.shape), name=ctx.helper_name(node, "units"))
        layers.append(restore)
        return NodeLayers(layers, lambda xs, training: restore(pool(group(dense(xs[0])))))
    return NodeLayers(layers, lambda xs, training: pool(group(dense(xs[0]))))


def convert_batch_norm(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """Keras semantics are dnnc's: biased batch variance, moving = m·moving + (1 − m)·batch."""
    a = node.attrs
    bn = ctx.keras.layers.BatchNormalization(
        axis=a.axis, momentum=a.momentum, epsilon=a.epsilon, center=a.center,
        scale=a.scale, beta_initializer="zeros", gamma_initializer="ones",
        moving_mean_initializer="zeros", moving_variance_initializer="ones", synchronized=False, name=node.name,
    )
    return NodeLayers([bn], lambda xs, training: bn(xs[0], training=training))


def convert_layer_norm(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """``LayerNormalization`` on the last axis, biased variance, every value from the IR (Keras's epsilon default
    is 1e-3, torch's 1e-5: neither is relied on)."""
    a = node.attrs
    layer = ctx.keras.layers.LayerNormalization(axis=a.axis, epsilon=a.epsilon, center=a.center, scale=a.scale,
                                                rms_scaling=False, beta_initializer="zeros", gamma_initializer="ones",
                                                name=node.name)
    return NodeLayers([layer], _single(layer))


def convert_zero_padding(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    layer = ctx.keras.layers.ZeroPadding2D(padding=tuple(tuple(p) for p in node.attrs.padding),
                                           data_format="channels_last", name=node.name)
    return NodeLayers([layer], _single(layer))


def convert_upsampling(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    layer = ctx.keras.layers.UpSampling2D(size=tuple(node.attrs.size), data_format="channels_last",
                                          interpolation=node.attrs.interpolation, name=node.name)
    return NodeLayers([layer], _single(layer))


def convert_dropout(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """Inverted dropout with a per-layer seed derived from the spec seed (masks: see graph.KerasGraph.run)."""
    drop = ctx.keras.layers.Dropout(rate=node.attrs.rate, noise_shape=None,
                                    seed=derived_seed(ctx.seed, node.name), name=node.name)
    return NodeLayers([drop], lambda xs, training: drop(xs[0], training=training))


def convert_spatial_dropout(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    """Whole channels dropped (noise shape (batch, 1, 1, C)), seeded like dropout (masks: graph.KerasGraph.run)."""
    drop = ctx.keras.layers.SpatialDropout2D(rate=node.attrs.rate, data_format="channels_last",
                                             seed=derived_seed(ctx.seed, node.name), name=node.name)
    return NodeLayers([drop], lambda xs, training: drop(xs[0], training=training))


def convert_activation(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    layer = activation_layer(ctx.keras, node.attrs.activation, node.name)
    return NodeLayers([layer], _single(layer))


def convert_flatten(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    layer = ctx.keras.layers.Flatten(data_format="channels_last", name=node.name)
    return NodeLayers([layer], _single(layer))


def convert_reshape(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    layer = ctx.keras.layers.Reshape(target_shape=tuple(node.attrs.shape), name=node.name)
    return NodeLayers([layer], _single(layer))


def convert_concatenate(node: NodeIR, ctx: BuildContext) -> NodeLayers:
    layer = ctx.keras.layers.Concatenate(axis=node.attrs.axis, name=node.name)
    return NodeLayers([layer], lambda xs, training: layer(list(xs)))


def _merge(class_name: str) -> Callable[[NodeIR, BuildContext], NodeLayers]:
    def convert(node: NodeIR, ctx: BuildContext) -> NodeLayers:
        layer = getattr(ctx.keras.layers, class_name)(name=node.name)
        return NodeLayers([layer], lambda xs, training: layer(list(xs)))

    convert.__name__ = f"convert_{class_name.lower()}"
    convert.__doc__ = f"keras.layers.{class_name} over the node's inputs (same shapes)."
    return convert


#: IR op → converter.  The backend's `supported_ops` is this key set.
CONVERTERS: dict[str, Callable[[NodeIR, BuildContext], NodeLayers]] = {
    "input": convert_input,
    "dense": convert_dense,
    "maxout": convert_maxout,
    "batch_norm": convert_batch_norm,
    "layer_norm": convert_layer_norm,
    "dropout": convert_dropout,
    "activation": convert_activation,
    "flatten": convert_flatten,
    "reshape": convert_reshape,
    "concatenate": convert_concatenate,
    "add": _merge("Add"),
    "subtract": _merge("Subtract"),
    "multiply": _merge("Multiply"),
    "average": _merge("Average"),
    "maximum": _merge("Maximum"),
    "minimum": _merge("Minimum"),
    **RECURRENT_CONVERTERS,
    **{f"conv{r}d": convert_conv for r in (1, 2)},
    **{op: convert_pool for op in _POOLS},
    **{op: convert_global_pool for op in _GLOBAL_POOLS},
    "zero_padding2d": convert_zero_padding,
    "upsampling2d": convert_upsampling,
    "spatial_dropout2d": convert_spatial_dropout,
}

#: IR op → canonical parameter name → the attribute (a dotted path) of the node's main Keras layer holding it.
PARAM_BINDINGS: dict[str, dict[str, str]] = {
    "dense": {"kernel": "kernel", "bias": "bias"},
    "maxout": {"kernel": "kernel", "bias": "bias"},  # the Dense(units·pieces) layer named like the node
    "conv1d": {"kernel": "kernel", "bias": "bias"},  # Keras's layout is the canonical one
    "conv2d": {"kernel": "kernel", "bias": "bias"},
    "batch_norm": {"gamma": "gamma", "beta": "beta", "moving_mean": "moving_mean",
                   "moving_variance": "moving_variance"},
    **RECURRENT_BINDINGS,  # dotted paths: the variables of the layer's cell
    "layer_norm": {"gamma": "gamma", "beta": "beta"},
}
