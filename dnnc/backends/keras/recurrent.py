"""Converters of the recurrent ops: Keras's own ``SimpleRNN``, ``LSTM`` and ``GRU`` layers, every argument explicit.

Dropout rates are the IR's; under strict parity the graph executor hands the
cells dnnc's masks (:func:`.graph.inject_cell_masks`).

The canonical layout is Keras's, so the parameters bind directly to the cell's
variables (``cell.kernel``, ``cell.recurrent_kernel``, ``cell.bias``).  The
layers run their generic step loop (``unroll = False``; LSTM/GRU ``use_cudnn = False``),
from a zero state; ``go_backwards`` returns the states in processing order, the
IR's convention.  Activations are the parameter-free ones the spec allows
(:data:`dnnc.spec_schema.recurrent.RECURRENT_ACTIVATIONS`), passed by name.
"""

from __future__ import annotations

from typing import Any

from ...compiler.ir import NodeIR
from ..base import BackendError
from .activations import fused_name
from .runtime import derived_seed


def _activation(act: Any) -> str:
    name = fused_name(act)
    if name is None:
        raise BackendError(f"the keras backend's recurrent layers take parameter-free activations (received {act.type!r})")
    return name


def _options(op: str, a: Any, params: dict[str, Any], name: str, ctx: Any) -> dict[str, Any]:
    """The Keras layer arguments of a recurrent op with attributes `a` and parameters by canonical name."""
    from .converters import keras_initializer, keras_regularizer

    keras = ctx.keras
    bias = params.get("bias")
    options = {
        "units": a.units, "activation": _activation(a.activation), "use_bias": a.use_bias,
        "kernel_initializer": keras_initializer(keras, params["kernel"].init),
        "recurrent_initializer": keras_initializer(keras, params["recurrent_kernel"].init),
        "bias_initializer": keras_initializer(keras, bias.init) if bias else "zeros",
        "kernel_regularizer": keras_regularizer(keras, params["kernel"].regularizer),
        "recurrent_regularizer": keras_regularizer(keras, params["recurrent_kernel"].regularizer),
        "bias_regularizer": keras_regularizer(keras, bias.regularizer) if bias else None,
        "dropout": a.dropout, "recurrent_dropout": a.recurrent_dropout, "seed": derived_seed(ctx.seed, name),
        "return_sequences": a.return_sequences, "return_state": False, "go_backwards": a.go_backwards,
        "stateful": False, "unroll": False, "name": name,
    }
    if op != "simple_rnn":
        options.update(recurrent_activation=_activation(a.recurrent_activation), use_cudnn=False)
    if op == "lstm":
        options["unit_forget_bias"] = a.unit_forget_bias
    if op == "gru":
        options["reset_after"] = a.reset_after
    return options


_LAYER_CLASS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _recurrent_layer(op: str, a: Any, params: dict[str, Any], name: str, ctx: Any):
    return getattr(ctx.keras.layers, _LAYER_CLASS[op])(**_options(op, a, params, name, ctx))


def convert_recurrent(node: NodeIR, ctx: Any):
    """``SimpleRNN`` / ``LSTM`` / ``GRU`` named like the node."""
    from .converters import NodeLayers

    layer = _recurrent_layer(node.op, node.attrs, {p.name: p for p in node.params}, node.name, ctx)
    return NodeLayers([layer], lambda xs, training: layer(xs[0], training=training))


def convert_bidirectional(node: NodeIR, ctx: Any):
    """``Bidirectional(layer, merge_mode)``: Keras copies the wrapped layer into ``forward_layer`` and a
    ``go_backwards = True`` ``backward_layer``, flips the backward states back (return_sequences) and merges."""
    from .converters import NodeLayers

    a = node.attrs
    forward = {p.name[len("forward_"):]: p for p in node.params if p.name.startswith("forward_")}
    inner = _recurrent_layer(a.layer, a.cell, forward, ctx.helper_name(node, a.layer), ctx)
    layer = ctx.keras.layers.Bidirectional(inner, merge_mode=a.merge_mode, name=node.name)
    return NodeLayers([layer], lambda xs, training: layer(xs[0], training=training))


def convert_embedding(node: NodeIR, ctx: Any):
    """``Embedding(input_dim, output_dim)`` without masking (id 0 is a token like the others)."""
    from .converters import NodeLayers, keras_initializer, keras_regularizer

    param = node.params[0]
    layer = ctx.keras.layers.Embedding(
        input_dim=node.attrs.input_dim, output_dim=node.attrs.output_dim,
        embeddings_initializer=keras_initializer(ctx.keras, param.init),
        embeddings_regularizer=keras_regularizer(ctx.keras, param.regularizer), mask_zero=False, name=node.name)
    return NodeLayers([layer], lambda xs, training: layer(xs[0]))


CELL_BINDINGS = {"kernel": "cell.kernel", "recurrent_kernel": "cell.recurrent_kernel", "bias": "cell.bias"}

RECURRENT_CONVERTERS = {"simple_rnn": convert_recurrent, "lstm": convert_recurrent, "gru": convert_recurrent,
                        "bidirectional": convert_bidirectional, "embedding": convert_embedding}
RECURRENT_BINDINGS = {
    **{op: CELL_BINDINGS for op in _LAYER_CLASS},
    "bidirectional": {f"{d}_{name}": f"{d}_layer.{path}" for d in ("forward", "backward")
                      for name, path in CELL_BINDINGS.items()},
    "embedding": {"embeddings": "embeddings"},
}
