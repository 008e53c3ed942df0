"""Lowering of the sequence layer types (`simple_rnn`, `lstm`, `gru`, `bidirectional`, `embedding`) to their IR ops, every default resolved.

Defaults are Keras 3's: activation tanh, recurrent_activation sigmoid, kernel
glorot_uniform (or model.defaults), recurrent kernel orthogonal (gain 1), bias
zeros (or model.defaults), unit_forget_bias true, reset_after true.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..spec_schema.model import ModelDefaults
from .ir_types import activation_ir, initializer_ir, regularizer_ir
from .lower_layers import DEFAULT_BIAS_INIT, DEFAULT_KERNEL_INIT, NodeDraft, ParamDraft, _first

Shape = tuple[int, ...]

DEFAULT_ACTIVATION = {"type": "tanh"}
DEFAULT_RECURRENT_ACTIVATION = {"type": "sigmoid"}
DEFAULT_RECURRENT_INIT = {"type": "orthogonal", "gain": 1.0}


def _recurrent_params(layer: Any, defaults: ModelDefaults) -> tuple[ParamDraft, ...]:
    params = [
        ParamDraft("kernel", initializer_ir(_first(layer.kernel_init, defaults.kernel_init) or DEFAULT_KERNEL_INIT),
                   regularizer_ir(_first(layer.kernel_regularizer, defaults.kernel_regularizer))),
        ParamDraft("recurrent_kernel", initializer_ir(layer.recurrent_init or DEFAULT_RECURRENT_INIT),
                   regularizer_ir(layer.recurrent_regularizer)),
    ]
    if layer.use_bias:
        params.append(ParamDraft("bias", initializer_ir(_first(layer.bias_init, defaults.bias_init) or DEFAULT_BIAS_INIT),
                                 regularizer_ir(_first(layer.bias_regularizer, defaults.bias_regularizer))))
    return tuple(params)


def _common(layer: Any) -> dict[str, Any]:
    attrs = {
        "units": layer.units,
        "activation": activation_ir(layer.activation if layer.activation is not None else DEFAULT_ACTIVATION),
        "use_bias": layer.use_bias,
        "return_sequences": layer.return_sequences,
        "go_backwards": layer.go_backwards,
        "dropout": layer.dropout,
        "recurrent_dropout": layer.recurrent_dropout,
    }
    if hasattr(layer, "recurrent_activation"):
        attrs["recurrent_activation"] = activation_ir(layer.recurrent_activation if layer.recurrent_activation
                                                      is not None else DEFAULT_RECURRENT_ACTIVATION)
    return attrs


def lower_simple_rnn(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("simple_rnn", _common(layer), _recurrent_params(layer, defaults))


def lower_lstm(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("lstm", {**_common(layer), "unit_forget_bias": layer.unit_forget_bias},
                     _recurrent_params(layer, defaults))


def lower_gru(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("gru", {**_common(layer), "reset_after": layer.reset_after}, _recurrent_params(layer, defaults))


def lower_bidirectional(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    """The wrapped layer's lowering, its parameters once per direction (forward_…, backward_…)."""
    inner = layer.layer
    draft = RECURRENT_LOWERINGS[inner.type](inner, shapes, defaults)
    params = tuple(ParamDraft(f"{d}_{p.name}", p.init, p.regularizer) for d in ("forward", "backward")
                   for p in draft.params)
    return NodeDraft("bidirectional", {"layer": inner.type, "cell": draft.attrs, "merge_mode": layer.merge_mode},
                     params)


DEFAULT_EMBEDDINGS_INIT = {"type": "random_uniform", "minval": -0.05, "maxval": 0.05}


def lower_embedding(layer: Any, shapes: Sequence[Shape], defaults: ModelDefaults) -> NodeDraft:
    return NodeDraft("embedding", {"input_dim": layer.input_dim, "output_dim": layer.output_dim},
                     (ParamDraft("embeddings", initializer_ir(layer.embeddings_init or DEFAULT_EMBEDDINGS_INIT),
                                 regularizer_ir(layer.embeddings_regularizer)),))


RECURRENT_LOWERINGS = {"simple_rnn": lower_simple_rnn, "lstm": lower_lstm, "gru": lower_gru,
                       "bidirectional": lower_bidirectional, "embedding": lower_embedding}
