"""Converters of the recurrent ops: Keras's own ``SimpleRNN``, ``LSTM`` and ``GRU`` layers, every argument explicit.

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


def _options(node: NodeIR, ctx: Any) -> dict[str, Any]:
    from .converters import keras_initializer, keras_regularizer

    keras, a = ctx.keras, node.attrs
    params = {p.name: p for p in node.params}
    bias = params.get("bias")
    options = {
        "units": a.units, "activation": _activation(a.activation), "use_bias": a.use_bias,
        "kernel_initializer": keras_initializer(keras, params["kernel"].init),
        "recurrent_initializer": keras_initializer(keras, params["recurrent_kernel"].init),
        "bias_initializer": keras_initializer(keras, bias.init) if bias else "zeros",
        "kernel_regularizer": keras_regularizer(keras, params["kernel"].regularizer),
        "recurrent_regularizer": keras_regularizer(keras, params["recurrent_kernel"].regularizer),
        "bias_regularizer": keras_regularizer(keras, bias.regularizer) if bias else None,
        "dropout": 0.0, "recurrent_dropout": 0.0, "seed": derived_seed(ctx.seed, node.name),
        "return_sequences": a.return_sequences, "return_state": False, "go_backwards": a.go_backwards,
        "stateful": False, "unroll": False, "name": node.name,
    }
    if node.op != "simple_rnn":
        options.update(recurrent_activation=_activation(a.recurrent_activation), use_cudnn=False)
    return options


def convert_simple_rnn(node: NodeIR, ctx: Any):
    from .converters import NodeLayers

    layer = ctx.keras.layers.SimpleRNN(**_options(node, ctx))
    return NodeLayers([layer], lambda xs, training: layer(xs[0], training=training))


def convert_lstm(node: NodeIR, ctx: Any):
    from .converters import NodeLayers

    layer = ctx.keras.layers.LSTM(unit_forget_bias=node.attrs.unit_forget_bias, **_options(node, ctx))
    return NodeLayers([layer], lambda xs, training: layer(xs[0], training=training))


def convert_gru(node: NodeIR, ctx: Any):
    from .converters import NodeLayers

    layer = ctx.keras.layers.GRU(reset_after=node.attrs.reset_after, **_options(node, ctx))
    return NodeLayers([layer], lambda xs, training: layer(xs[0], training=training))


CELL_BINDINGS = {"kernel": "cell.kernel", "recurrent_kernel": "cell.recurrent_kernel", "bias": "cell.bias"}

RECURRENT_CONVERTERS = {"simple_rnn": convert_simple_rnn, "lstm": convert_lstm, "gru": convert_gru}
RECURRENT_BINDINGS = {op: CELL_BINDINGS for op in RECURRENT_CONVERTERS}
