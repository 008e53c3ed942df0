"""The recurrent ops of the IR: ``simple_rnn``, ``lstm``, ``gru``, ``bidirectional`` (in :data:`dnnc.compiler.ops.BUILTIN_OPS`).

Shapes exclude the batch axis: the input is (steps, features), the output
(units,), or (steps, units) with ``return_sequences``.  The initial state is
zero.  Parameters are in Keras's layout (the canonical one): the input kernel
(features, k·units), the recurrent kernel (units, k·units) and the bias, with
the gate blocks side by side in Keras's order (lstm: i, f, c, o; gru: z, r, h).
A backend with another layout converts in one documented function per op
(torch: :mod:`dnnc.backends.torch.recurrent`).
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence, Union

from pydantic import Field, StrictBool, StrictInt, model_validator

from .ir_types import ActivationIR
from .ops import LoweringError, OpAttrs, OpDef, ParamSpec, Shape


class _RecurrentAttrs(OpAttrs):
    units: StrictInt = Field(..., gt=0, description="Size of the state.")
    activation: ActivationIR = Field(..., description="Activation of the state (the candidate state of lstm and gru, "
                                                      "and the LSTM output).")
    use_bias: StrictBool = Field(..., description="Whether the op has the bias parameter.")
    return_sequences: StrictBool = Field(..., description="Output every state (steps, units) instead of the last one "
                                                          "(units,).")
    go_backwards: StrictBool = Field(..., description="Process the steps from last to first; the output sequence is "
                                                      "in processing order (Keras's convention, not re-reversed).")
    dropout: float = Field(..., ge=0, lt=1, description="Training only: x_t·m/(1 − dropout) with one keep mask m per "
                                                     "sequence (per gate when recurrent_dropout > 0, else shared).")
    recurrent_dropout: float = Field(..., ge=0, lt=1, description="Training only: h_{t−1}·m_g/(1 − recurrent_dropout) "
                                                               "in each gate's recurrent matmul, one mask per sequence "
                                                               "and gate; the state itself is not dropped.")


class SimpleRnnAttrs(_RecurrentAttrs):
    pass


class _GatedAttrs(_RecurrentAttrs):
    recurrent_activation: ActivationIR = Field(..., description="Activation of the gates.")


class LstmAttrs(_GatedAttrs):
    unit_forget_bias: StrictBool = Field(..., description="Initial values only: the forget slice of the bias is ones, "
                                                          "the i and c, o slices are drawn from its initializer for "
                                                          "shapes (units,) and (2·units,) (Keras's rule).")


class GruAttrs(_GatedAttrs):
    reset_after: StrictBool = Field(..., description="Reset gate applied after the recurrent matmul, with separate "
                                                     "input and recurrent biases (torch's formulation); false: "
                                                     "before it, with one bias.")


GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
"""Gate blocks per op (the k of the k·units columns)."""


def _sequence_shape(attrs: Any, shapes: Sequence[Shape]) -> Shape:
    shape = shapes[0]
    if len(shape) != 2:
        raise LoweringError("a recurrent layer needs a sequence input of shape (steps, features)", key="inputs", received=list(shape), allowed="rank 2 (steps, features)")
    return (shape[0], attrs.units) if attrs.return_sequences else (attrs.units,)


def _params(gates: int) -> Callable[[Any, Sequence[Shape]], tuple[ParamSpec, ...]]:
    def rule(attrs: Any, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
        width = gates * attrs.units
        params = [ParamSpec("kernel", (shapes[0][-1], width), True),
                  ParamSpec("recurrent_kernel", (attrs.units, width), True)]
        if attrs.use_bias:
            two_rows = getattr(attrs, "reset_after", False)
            params.append(ParamSpec("bias", (2, width) if two_rows else (width,), True))
        return tuple(params)

    return rule


def lstm_bias_initial(attrs: LstmAttrs, name: str, init: Any, shape: Shape, rng: Any, draw: Callable) -> Any:
    """With unit_forget_bias, the LSTM bias as Keras builds it: draw (units,), ones (units,), draw (2·units,)."""
    if name != "bias" or not attrs.unit_forget_bias:
        return None
    import numpy as np

    u = attrs.units
    return np.concatenate([draw(init, (u,), rng), np.ones((u,), np.float32), draw(init, (2 * u,), rng)])


_RECURRENCE = ("x_t is the input at step t (steps taken from last to first with go_backwards), h_0 = 0; "
               "σ is recurrent_activation, φ activation; [·]_g is gate block g of the k·units columns. In training, "
               "dropout and recurrent_dropout multiply, in gate g's matmuls, x_t by m_x[g]/(1 − dropout) and h_{t−1} "
               "by m_h[g]/(1 − recurrent_dropout): keep masks drawn once per sequence (Keras's rule), see "
               "`recurrent_mask_sites`.")

RECURRENT_OPS: list[OpDef] = [
    OpDef("simple_rnn", SimpleRnnAttrs,
          "h_t = φ(x_t·kernel + h_{t−1}·recurrent_kernel + bias). " + _RECURRENCE,
          _sequence_shape, params=_params(1),
          layout="kernel (features, units), recurrent_kernel (units, units), bias (units,) when use_bias. torch's two "
                 "biases: b_ih = bias, b_hh = 0."),
    OpDef("lstm", LstmAttrs,
          "z = x_t·kernel + h_{t−1}·recurrent_kernel + bias; i = σ(z_i), f = σ(z_f), o = σ(z_o); "
          "c_t = f·c_{t−1} + i·φ(z_c), c_0 = 0; h_t = o·φ(c_t). " + _RECURRENCE,
          _sequence_shape, params=_params(4),
          layout="kernel (features, 4·units), recurrent_kernel (units, 4·units), bias (4·units,) when use_bias; "
                 "gate blocks i, f, c, o (Keras's order, also torch's i, f, g, o). torch's two biases: b_ih = bias, "
                 "b_hh = 0."),
    OpDef("gru", GruAttrs,
          "reset_after: gx = x_t·kernel + bias[0], gh = h_{t−1}·recurrent_kernel + bias[1]; z = σ(gx_z + gh_z), "
          "r = σ(gx_r + gh_r), ĥ = φ(gx_h + r·gh_h). Otherwise: gx = x_t·kernel + bias, z and r as above with "
          "gh = h_{t−1}·recurrent_kernel, ĥ = φ(gx_h + (r·h_{t−1})·recurrent_kernel_h). Then "
          "h_t = z·h_{t−1} + (1 − z)·ĥ. " + _RECURRENCE,
          _sequence_shape, params=_params(3),
          layout="kernel (features, 3·units), recurrent_kernel (units, 3·units), bias (2, 3·units) with reset_after "
                 "(row 0 input bias, row 1 recurrent bias) else (3·units,); gate blocks z, r, h (Keras's order; "
                 "torch's is r, z, n)."),
]
"""The recurrent op definitions."""

#: op → its rule for initial values that are not one draw of the parameter's initializer.
INITIAL_VALUE_RULES: dict[str, Callable] = {"lstm": lstm_bias_initial}


# ---------------------------------------------------------------------------
# bidirectional
# ---------------------------------------------------------------------------

CELL_ATTRS = {"simple_rnn": SimpleRnnAttrs, "lstm": LstmAttrs, "gru": GruAttrs}
MERGE_MODES = ("concat", "sum", "mul", "ave")


class BidirectionalAttrs(OpAttrs):
    layer: Literal["simple_rnn", "lstm", "gru"] = Field(..., description="The wrapped recurrent op.")
    cell: Union[LstmAttrs, GruAttrs, SimpleRnnAttrs] = Field(
        ..., description="The wrapped op's attributes (go_backwards false); the backward copy has go_backwards true.")
    merge_mode: Literal["concat", "sum", "mul", "ave"] = Field(
        ..., description="concat (last axis), sum, mul or ave ((forward + backward)/2).")

    @model_validator(mode="after")
    def _cell_matches(self) -> "BidirectionalAttrs":
        if type(self.cell) is not CELL_ATTRS[self.layer]:
            raise ValueError(f"cell attributes of {type(self.cell).__name__} do not belong to op {self.layer!r}")
        if self.cell.go_backwards:
            raise ValueError("the forward cell of a bidirectional node has go_backwards = false")
        return self


DIRECTIONS = ("forward", "backward")


def direction_attrs(attrs: BidirectionalAttrs, direction: str) -> Any:
    """The wrapped op's attributes of one direction (the backward copy reads the steps from last to first)."""
    return attrs.cell if direction == "forward" else attrs.cell.model_copy(update={"go_backwards": True})


def _bidirectional_shape(attrs: BidirectionalAttrs, shapes: Sequence[Shape]) -> Shape:
    shape = _sequence_shape(attrs.cell, shapes)
    return shape[:-1] + (2 * shape[-1],) if attrs.merge_mode == "concat" else shape


def _bidirectional_params(attrs: BidirectionalAttrs, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    inner = _params(GATES[attrs.layer])(attrs.cell, shapes)
    return tuple(ParamSpec(f"{d}_{p.name}", p.shape, p.trainable, p.default_init) for d in DIRECTIONS for p in inner)


def bidirectional_initial(attrs: BidirectionalAttrs, name: str, init: Any, shape: Shape, rng: Any,
                          draw: Callable) -> Any:
    """The wrapped op's rule (an LSTM's unit_forget_bias) for both directions' parameters."""
    rule = INITIAL_VALUE_RULES.get(attrs.layer)
    direction, _, inner = name.partition("_")
    return rule(attrs.cell, inner, init, shape, rng, draw) if rule is not None else None


RECURRENT_OPS.append(OpDef(
    "bidirectional", BidirectionalAttrs,
    "y_f = cell(x) with the forward parameters; y_b = cell(x) read from the last step to the first with the backward "
    "parameters, its states put back in time order when return_sequences; y = [y_f, y_b] on the last axis (concat), "
    "y_f + y_b (sum), y_f·y_b (mul) or (y_f + y_b)/2 (ave).",
    _bidirectional_shape, params=_bidirectional_params,
    layout="the wrapped op's parameters for each direction, forward first: forward_kernel, forward_recurrent_kernel, "
           "forward_bias, backward_kernel, … (Keras's forward_layer and backward_layer)."))
INITIAL_VALUE_RULES["bidirectional"] = bidirectional_initial


# ---------------------------------------------------------------------------
# recurrent dropout masks
# ---------------------------------------------------------------------------

def _cell_sites(prefix: str, op: str, a: Any, features: int) -> list[tuple[str, tuple[int, int], float]]:
    gates = GATES[op]
    sites = []
    if a.dropout > 0:
        # Keras: one shared input mask unless recurrent dropout makes the cell compute gate by gate
        sites.append((f"{prefix}dropout", (gates if a.recurrent_dropout > 0 else 1, features), a.dropout))
    if a.recurrent_dropout > 0:
        sites.append((f"{prefix}recurrent_dropout", (gates, a.units), a.recurrent_dropout))
    return sites


def recurrent_mask_sites(node: Any, features: int) -> list[tuple[str, tuple[int, int], float]]:
    """The keep masks a recurrent node uses in training: (key, shape without the batch axis, rate).

    Keys are ``<node>/dropout`` and ``<node>/recurrent_dropout`` (bidirectional: ``<node>/forward_dropout``,
    ``<node>/backward_recurrent_dropout``, …); a mask of shape (k, n) holds one mask per gate (k = the op's
    gates) or one shared by every gate (k = 1: dropout without recurrent_dropout; simple_rnn has one gate).
    `features` is the size of the input's last axis."""
    if node.op == "bidirectional":
        return [site for d in DIRECTIONS
                for site in _cell_sites(f"{node.name}/{d}_", node.attrs.layer, node.attrs.cell, features)]
    if node.op in GATES:
        return _cell_sites(f"{node.name}/", node.op, node.attrs, features)
    return []
