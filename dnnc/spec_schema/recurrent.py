"""Sequence layers of `model.layers`: `simple_rnn`, `lstm`, `gru`, `bidirectional` and `embedding` (issue 17).

A recurrent layer reads a sequence of shape (steps, features) (batch axis
excluded) and returns its last state (units,) or, with
`return_sequences = true`, every state (steps, units).  The formulas, gate
orders and parameter layouts are Keras's (see docs/ir-ops.md, ops `lstm` and
`gru`); both backends compute exactly them.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, field_validator

from .activations import ActivationSpec
from .initializers import InitializerSpec
from .layers import LayerBase
from .regularizers import RegularizerSpec

#: Activations a recurrent layer accepts (parameter-free, so every backend's recurrent cell takes them as they are).
RECURRENT_ACTIVATIONS: tuple[str, ...] = (
    "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "linear", "softsign", "softplus", "selu", "swish", "silu",
    "mish",
)


def _check_activation(value):
    if value is not None and value.type not in RECURRENT_ACTIVATIONS:
        raise ValueError(f"a recurrent layer takes a parameter-free activation (received {value.type!r}; allowed: "
                         f"{', '.join(RECURRENT_ACTIVATIONS)})")
    return value


class _Recurrent(LayerBase):
    units: int = Field(..., gt=0, description="Size of the state (output units).")
    activation: Optional[ActivationSpec] = Field(None, description="Activation of the candidate state and of the output (default tanh).")
    use_bias: bool = Field(True, description="Add bias vectors (default true).")
    return_sequences: bool = Field(False, description="Return the state after every step, shape (steps, units), instead of the last one, shape (units,) (default false).")
    go_backwards: bool = Field(False, description="Read the sequence from the last step to the first; with return_sequences the states come in that (reversed) processing order, as in Keras (default false).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Fraction of the input features dropped in training, one mask per sequence reused at every step (Keras's rule; per gate when recurrent_dropout is set); dnnc draws the masks under strict parity (default 0).")
    recurrent_dropout: float = Field(0.0, ge=0, lt=1, description="Fraction of the state dropped before each recurrent matmul in training, one mask per sequence and gate reused at every step (default 0).")
    kernel_init: Optional[InitializerSpec] = Field(None, description="Input kernel initializer (default: model.defaults, else glorot_uniform).")
    recurrent_init: Optional[InitializerSpec] = Field(None, description="Recurrent kernel initializer (default orthogonal).")
    bias_init: Optional[InitializerSpec] = Field(None, description="Bias initializer (default: model.defaults, else zeros).")
    kernel_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the input kernel (default: model.defaults, else none).")
    recurrent_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the recurrent kernel (default none).")
    bias_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the bias (default: model.defaults, else none).")

    @field_validator("activation", "recurrent_activation", check_fields=False)
    @classmethod
    def _parameter_free(cls, value):
        return _check_activation(value)


class SimpleRnn(_Recurrent):
    """Fully connected recurrence (Keras's SimpleRNN): h_t = activation(x_t·W + h_{t−1}·U + b)."""

    type: Literal["simple_rnn"]


class _Gated(_Recurrent):
    recurrent_activation: Optional[ActivationSpec] = Field(None, description="Activation of the gates (default sigmoid, Keras 3's default).")


class Lstm(_Gated):
    """Long short-term memory (Keras's LSTM): gates i, f, c, o; c_t = f·c_{t−1} + i·activation(z_c), h_t = o·activation(c_t)."""

    type: Literal["lstm"]
    unit_forget_bias: bool = Field(True, description="Initialise the forget-gate slice of the bias to ones, the other slices from bias_init (default true, as Keras).")


class Gru(_Gated):
    """Gated recurrent unit (Keras's GRU): gates z, r, h; h_t = z·h_{t−1} + (1 − z)·ĥ_t."""

    type: Literal["gru"]
    reset_after: bool = Field(True, description="Apply the reset gate after the recurrent matmul, with separate input and recurrent biases (Keras 3's default and torch's formulation); false: the original GRU, reset before the matmul, one bias (default true).")


class Bidirectional(LayerBase):
    """A recurrent layer run forwards and, as a copy with its own weights, backwards over the sequence (Keras's
    Bidirectional); with return_sequences the backward states are put back in time order before merging."""

    type: Literal["bidirectional"]
    layer: Annotated[Union[SimpleRnn, Lstm, Gru], Field(discriminator="type")] = Field(
        ..., description='The recurrent layer, e.g. { type = "lstm", units = 64 } (without name, inputs, trainable '
                         "or go_backwards).")
    merge_mode: Literal["concat", "sum", "mul", "ave"] = Field(
        "concat", description="How the forward and backward outputs combine: concatenated on the last axis (2·units), "
                              "summed, multiplied or averaged (default concat).")

    @field_validator("layer")
    @classmethod
    def _plain_inner_layer(cls, value):
        keys = sorted(set(value.model_fields_set) & {"name", "inputs", "trainable", "go_backwards"})
        if keys:
            raise ValueError(f"the wrapped layer takes no {', '.join(keys)} (the bidirectional layer has the name, "
                             "inputs and trainable flag; its backward copy reads the sequence backwards)")
        return value


class Embedding(LayerBase):
    """Token ids to vectors (Keras's Embedding): each id of an int64 model input replaced by its row of the
    (input_dim, output_dim) table; ids must lie in 0 … input_dim − 1 (checked against the data)."""

    type: Literal["embedding"]
    input_dim: int = Field(..., gt=0, description="Vocabulary size (ids 0 … input_dim − 1).")
    output_dim: int = Field(..., gt=0, description="Size of each token's vector.")
    embeddings_init: Optional[InitializerSpec] = Field(None, description="Table initializer (default random_uniform(−0.05, 0.05), Keras's).")
    embeddings_regularizer: Optional[RegularizerSpec] = Field(None, description="Penalty on the table (default none).")


RECURRENT_MODELS: list[type[LayerBase]] = [SimpleRnn, Lstm, Gru, Bidirectional, Embedding]
