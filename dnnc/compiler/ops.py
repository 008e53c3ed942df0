"""The IR's op set: the contract every backend implements.

The op set is closed: :data:`BUILTIN_OPS` below, plus the ops that plugin
layer types define (:attr:`dnnc.plugins.vocabulary.LayerType.op`, collected in
``Registry.ops``).  For each op, one :class:`OpDef` states

* its **attributes**: a Pydantic model (:class:`OpAttrs`) whose every field is
  required — the compiler resolves all defaults, so a backend reads
  ``node.attrs.units`` and never supplies a value of its own;
* its **arity**: how many inputs it takes;
* its **shape rule**: the output shape from the attributes and the input
  shapes (shapes exclude the batch axis; data is channels-last);
* its **parameters**: names, shapes and trainability as functions of the
  attributes and input shapes, in canonical order and canonical layout;
* optionally, how its attributes follow the node's ``trainable`` flag (a
  frozen node): :attr:`OpDef.trainability` (batch norm: ``inference_mode``);
* optionally, the shape of the keep mask it draws in training mode
  (:attr:`OpDef.mask_shape`: dropout, spatial dropout), see :func:`dropout_nodes`.

The convolution, pooling, padding, upsampling and spatial-dropout ops, and the
padding rule they share, are defined in :mod:`dnnc.compiler.ops_spatial`.

:func:`dnnc.compiler.verify.verify` checks every node of an IR against its
op's definition, and the lowering computes shapes and parameter shapes with
the same functions, so the compiler and the verifier cannot disagree.
``docs/ir-ops.md`` is generated from this table (``dnnc schema --ops``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from .ir_types import ActivationIR

Shape = tuple[int, ...]


class LoweringError(Exception):
    """A semantic error in one layer or node: wrong inputs, impossible shapes, bad attributes.

    ``key`` names the layer key (at lowering time) or the node field (at
    verification time) it concerns, e.g. ``"inputs"`` or ``"axis"``.
    """

    def __init__(self, message: str, key: str | None = None, received: Any = None, allowed: str | None = None):
        super().__init__(message)
        self.message, self.key, self.received, self.allowed = message, key, received, allowed


class OpAttrs(BaseModel):
    """Base of every op's attribute model: frozen, no unknown keys, every field required."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter an op defines: canonical name, shape (canonical layout), whether it is trained, and the
    initializer type it gets when the layer does not choose one (``zeros`` or ``ones``)."""

    name: str
    shape: Shape
    trainable: bool
    default_init: str = "zeros"


ShapeRule = Callable[[Any, Sequence[Shape]], Shape]
ParamRule = Callable[[Any, Sequence[Shape]], tuple[ParamSpec, ...]]
#: ``(attrs, trainable) -> attrs``: the attributes a node of the op has when its ``trainable`` flag is `trainable`.
TrainabilityRule = Callable[[Any, bool], Any]


def _no_params(attrs: Any, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    return ()


@dataclass(frozen=True)
class OpDef:
    """The definition of one IR op (see the module docstring)."""

    name: str
    attrs: type[OpAttrs]
    doc: str
    infer_shape: ShapeRule
    min_inputs: int = 1
    max_inputs: int | None = 1
    params: ParamRule = _no_params
    layout: str = ""
    #: How the attributes follow the node's ``trainable`` flag (None: they do not depend on it).  The
    #: verifier checks ``trainability(attrs, node.trainable) == attrs``; freezing or unfreezing a node
    #: (:mod:`dnnc.compiler.freezing`) applies it.
    trainability: TrainabilityRule | None = None
    #: ``(attrs, shape) -> mask shape`` for an op that drops values with a keep mask in training mode (None:
    #: it draws nothing): the mask's shape without the batch axis, broadcast against the node's output shape
    #: in ``y = x·mask/(1 − rate)`` (dropout: the output shape; spatial dropout: one value per channel).  dnnc
    #: draws these masks under strict parity (:mod:`dnnc.runner.dropout`).
    mask_shape: Callable[[Any, Shape], Shape] | None = None

    def check_arity(self, count: int) -> None:
        """Raise LoweringError (key "inputs") unless `count` inputs are allowed."""
        lo, hi = self.min_inputs, self.max_inputs
        if lo <= count and (hi is None or count <= hi):
            return
        if lo == hi:
            allowed = f"{lo} input{'s' if lo != 1 else ''}"
            text = {1: "exactly one input", 2: "exactly two inputs"}.get(lo, f"exactly {lo} inputs")
            raise LoweringError(f"{self.name} takes {text}", key="inputs", received=count, allowed=allowed)
        raise LoweringError(f"{self.name} needs at least {'two' if lo == 2 else lo} inputs", key="inputs",
                            received=count, allowed=f"≥ {lo} inputs")

    def output_shape(self, attrs: Any, shapes: Sequence[Shape]) -> Shape:
        """Arity check, then the shape rule."""
        self.check_arity(len(shapes))
        return tuple(int(d) for d in self.infer_shape(attrs, [tuple(s) for s in shapes]))

    def param_specs(self, attrs: Any, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
        return tuple(self.params(attrs, [tuple(s) for s in shapes]))


# ---------------------------------------------------------------------------
# attribute models
# ---------------------------------------------------------------------------

class InputAttrs(OpAttrs):
    dtype: Literal["float32", "int64"] = Field(..., description="Element type of the input tensor (int64: token ids, "
                                                                 "read only by embedding nodes).")


class NoAttrs(OpAttrs):
    """An op without attributes."""


class DenseAttrs(OpAttrs):
    units: StrictInt = Field(..., gt=0, description="Output units.")
    use_bias: StrictBool = Field(..., description="Whether the op has a bias parameter.")
    activation: ActivationIR = Field(..., description="Activation applied to x·kernel + bias.")


class MaxoutAttrs(OpAttrs):
    units: StrictInt = Field(..., gt=0, description="Output units.")
    pieces: StrictInt = Field(..., ge=2, description="Linear pieces per unit.")
    use_bias: StrictBool = Field(..., description="Whether the op has a bias parameter.")


class ReshapeAttrs(OpAttrs):
    shape: tuple[Annotated[StrictInt, Field(gt=0)], ...] = Field(
        ..., min_length=1, description="Target shape (batch axis excluded), every entry resolved (no −1).")


class BatchNormAttrs(OpAttrs):
    axis: Literal[-1] = Field(..., description="The normalised (channel) axis: the last one.")
    momentum: float = Field(..., ge=0, lt=1, description="moving = momentum·moving + (1 − momentum)·batch.")
    epsilon: float = Field(..., gt=0, description="Added to the variance.")
    center: StrictBool = Field(..., description="Whether the op has the offset parameter beta.")
    scale: StrictBool = Field(..., description="Whether the op has the scale parameter gamma.")
    inference_mode: StrictBool = Field(
        ..., description="Normalise with the moving statistics and never update them, in training mode too; true "
                         "exactly when the node is frozen (trainable = false), the Keras 3 rule.")


class LayerNormAttrs(OpAttrs):
    axis: Literal[-1] = Field(..., description="The normalised axis: the last one.")
    epsilon: float = Field(..., gt=0, description="Added to the variance.")
    center: StrictBool = Field(..., description="Whether the op has the offset parameter beta.")
    scale: StrictBool = Field(..., description="Whether the op has the scale parameter gamma.")


class DropoutAttrs(OpAttrs):
    rate: float = Field(..., ge=0, lt=1, description="Probability of dropping an element in training mode.")


class ActivationAttrs(OpAttrs):
    activation: ActivationIR = Field(..., description="The activation function, every parameter explicit.")


class ConcatenateAttrs(OpAttrs):
    axis: StrictInt = Field(..., lt=0, description="Concatenation axis, negative (counted from the last axis).")


# ---------------------------------------------------------------------------
# shape and parameter rules
# ---------------------------------------------------------------------------

def _shapes_text(shapes: Sequence[Shape]) -> str:
    return ", ".join(str(list(s)) for s in shapes)


def _same(attrs: Any, shapes: Sequence[Shape]) -> Shape:
    return shapes[0]


def _input_shape(attrs: Any, shapes: Sequence[Shape]) -> Shape:  # pragma: no cover - inputs have a declared shape
    raise LoweringError("an input node's shape is declared, not inferred")


def _last_axis(attrs: Any, shapes: Sequence[Shape], units: int) -> Shape:
    shape = shapes[0]
    if not shape:
        raise LoweringError("needs an input with at least one feature axis", key="inputs", received=list(shape))
    return shape[:-1] + (units,)


def _dense_shape(attrs: DenseAttrs, shapes: Sequence[Shape]) -> Shape:
    return _last_axis(attrs, shapes, attrs.units)


def _linear_params(attrs: Any, shapes: Sequence[Shape], outputs: int) -> tuple[ParamSpec, ...]:
    params = [ParamSpec("kernel", (shapes[0][-1], outputs), True)]
    if attrs.use_bias:
        params.append(ParamSpec("bias", (outputs,), True))
    return tuple(params)


def _dense_params(attrs: DenseAttrs, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    return _linear_params(attrs, shapes, attrs.units)


def _maxout_shape(attrs: MaxoutAttrs, shapes: Sequence[Shape]) -> Shape:
    return _last_axis(attrs, shapes, attrs.units)


def _maxout_params(attrs: MaxoutAttrs, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    return _linear_params(attrs, shapes, attrs.units * attrs.pieces)


def _flatten_shape(attrs: Any, shapes: Sequence[Shape]) -> Shape:
    return (math.prod(shapes[0]),)


def _reshape_shape(attrs: ReshapeAttrs, shapes: Sequence[Shape]) -> Shape:
    size, target = math.prod(shapes[0]), tuple(attrs.shape)
    if any(d <= 0 for d in target):
        raise LoweringError(f"reshape target entries must be positive (received {list(target)})", key="shape",
                            received=list(target))
    if math.prod(target) != size:
        raise LoweringError(f"cannot reshape {size} values (input shape {list(shapes[0])}) to {list(target)} "
                            f"({math.prod(target)} values)", key="shape", received=list(target))
    return target


def _batch_norm_shape(attrs: BatchNormAttrs, shapes: Sequence[Shape]) -> Shape:
    if not shapes[0]:
        raise LoweringError("batch_norm needs an input with a channel axis", key="inputs", received=list(shapes[0]))
    return shapes[0]


def _affine_params(attrs: Any, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    """gamma (C,) when `attrs.scale`, beta (C,) when `attrs.center` (batch and layer norm)."""
    c = shapes[0][-1]
    params = []
    if attrs.scale:
        params.append(ParamSpec("gamma", (c,), True, "ones"))
    if attrs.center:
        params.append(ParamSpec("beta", (c,), True))
    return tuple(params)


def _batch_norm_params(attrs: BatchNormAttrs, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    c = shapes[0][-1]
    return _affine_params(attrs, shapes) + (ParamSpec("moving_mean", (c,), False),
                                            ParamSpec("moving_variance", (c,), False, "ones"))


def _batch_norm_trainability(attrs: BatchNormAttrs, trainable: bool) -> BatchNormAttrs:
    """A frozen batch norm runs in inference mode (Keras 3): ``inference_mode = not trainable``."""
    if attrs.inference_mode == (not trainable):
        return attrs
    return attrs.model_copy(update={"inference_mode": not trainable})


def same_rank(shapes: Sequence[Shape], op: str) -> int:
    """The common rank of `shapes`; LoweringError when they differ."""
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise LoweringError(f"{op} inputs must have the same rank (input shapes {_shapes_text(shapes)})", key="inputs")
    return ranks.pop()


def _concatenate_shape(attrs: ConcatenateAttrs, shapes: Sequence[Shape]) -> Shape:
    rank = same_rank(shapes, "concatenate")
    axis = attrs.axis
    if not -rank <= axis < 0:
        raise LoweringError(f"axis out of range for inputs of rank {rank} (batch axis excluded)", key="axis",
                            received=axis, allowed=f"−{rank}…−1")
    for s in shapes[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i - rank != axis):
            raise LoweringError(f"incompatible shapes for concatenate on axis {axis}: {_shapes_text(shapes)} "
                                "(all axes but the concatenation axis must match)", key="inputs")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return tuple(out)


def _merge_shape(op: str) -> ShapeRule:
    def rule(attrs: Any, shapes: Sequence[Shape]) -> Shape:
        if len(set(shapes)) != 1:
            raise LoweringError(f"incompatible shapes for {op}: {_shapes_text(shapes)} (all inputs must have the "
                                "same shape)", key="inputs")
        return shapes[0]

    return rule


# ---------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------

from .ops_spatial import SPATIAL_OPS  # noqa: E402  (it builds on the definitions above)

MERGE_OPS: tuple[str, ...] = ("add", "subtract", "multiply", "average", "maximum", "minimum")

_MERGE_DOCS = {
    "add": "Element-wise sum of the inputs, folded left to right.",
    "subtract": "First input minus the second.",
    "multiply": "Element-wise product, folded left to right.",
    "average": "Element-wise sum divided by the number of inputs.",
    "maximum": "Element-wise maximum, folded left to right; on a tie the gradient goes to the left operand "
               "(TensorFlow's convention).",
    "minimum": "Element-wise minimum, folded left to right; ties as for maximum.",
}

from .embedding_ops import EMBEDDING_OP  # noqa: E402  (builds on OpDef, OpAttrs and ParamSpec above)
from .recurrent_ops import RECURRENT_OPS  # noqa: E402

BUILTIN_OPS: dict[str, OpDef] = {op.name: op for op in [
    OpDef("input", InputAttrs, "A model input: its shape is the node's declared shape (batch axis excluded).",
          _input_shape, min_inputs=0, max_inputs=0),
    OpDef("dense", DenseAttrs,
          "y = activation(x @ kernel + bias) on the last axis; other axes are batch-like.",
          _dense_shape, params=_dense_params,
          layout="kernel (in, units), bias (units,): the Keras layout; torch's Linear.weight is kernel.T."),
    OpDef("maxout", MaxoutAttrs,
          "z = x @ kernel + bias with units·pieces outputs; output j = max(z[j·pieces : (j+1)·pieces]). On ties "
          "the gradient is split evenly between the maxima.",
          _maxout_shape, params=_maxout_params,
          layout="kernel (in, units·pieces), bias (units·pieces,)."),
    OpDef("flatten", NoAttrs, "Row-major (channels-last) flatten of every axis but the batch axis.", _flatten_shape),
    OpDef("reshape", ReshapeAttrs, "Row-major reshape of the features to `shape` (batch axis kept).",
          _reshape_shape),
    OpDef("batch_norm", BatchNormAttrs,
          "Training mode: y = γ·(x − μ_B)/sqrt(σ²_B + ε) + β with the batch mean and the biased batch variance "
          "over every axis but the channel axis, then moving = momentum·moving + (1 − momentum)·batch (biased "
          "variance). Inference mode uses the moving statistics: y = γ·(x − moving_mean)/sqrt(moving_variance + ε) "
          "+ β. With inference_mode (a frozen node) the inference formula is used in training mode too, the moving "
          "statistics never change, and the gradient with respect to x is γ/sqrt(moving_variance + ε)·∂y.",
          _batch_norm_shape, params=_batch_norm_params,
          layout="gamma (C,) when scale, beta (C,) when center, then moving_mean (C,), moving_variance (C,) "
                 "(not trained).", trainability=_batch_norm_trainability),
    OpDef("layer_norm", LayerNormAttrs,
          "y = γ·(x − μ)/sqrt(σ² + ε) + β with the mean μ and the biased variance σ² of each sample's last axis "
          "(every other axis, the batch axis too, is a row of its own); the same in training and inference mode.",
          _batch_norm_shape, params=_affine_params,
          layout="gamma (C,) when scale, beta (C,) when center."),
    OpDef("dropout", DropoutAttrs,
          "Inverted dropout: in training mode y = x·mask/(1 − rate) with mask ~ Bernoulli(1 − rate) per element "
          "(dnnc draws the masks under strict parity); identity at inference.", _same,
          mask_shape=lambda attrs, shape: tuple(shape)),
    OpDef("activation", ActivationAttrs, "The activation function applied element-wise (softmax: over the last "
          "axis).", _same),
    OpDef("concatenate", ConcatenateAttrs, "Concatenation of the inputs along `axis`.", _concatenate_shape,
          min_inputs=2, max_inputs=None),
    *[OpDef(op, NoAttrs, _MERGE_DOCS[op], _merge_shape(op), min_inputs=2, max_inputs=2 if op == "subtract" else None)
      for op in MERGE_OPS],
    *RECURRENT_OPS,
    EMBEDDING_OP,
    *SPATIAL_OPS,
]}
"""Every built-in op by name."""

#: The names of the built-in ops (what a complete backend declares in ``supported_ops``).
CORE_OPS: frozenset[str] = frozenset(BUILTIN_OPS)


def dropout_nodes(ir: Any) -> dict[str, tuple[Shape, float]]:
    """Every node of `ir` that draws a keep mask (:attr:`OpDef.mask_shape`): name → (mask shape without the
    batch axis, rate), in graph order."""
    out = {}
    for node in ir.nodes:
        op = BUILTIN_OPS.get(node.op)
        if op is not None and op.mask_shape is not None:
            out[node.name] = (tuple(op.mask_shape(node.attrs, tuple(node.shape))), float(node.attrs.rate))
    return out


def op_table(extra: Mapping[str, OpDef] | None = None) -> dict[str, OpDef]:
    """The built-in ops plus `extra` (plugin ops; a plugin op never replaces a built-in one)."""
    table = dict(extra or {})
    table.update(BUILTIN_OPS)
    return table


def default_op_table() -> dict[str, OpDef]:
    """The built-in ops plus every op the installed plugins define."""
    from ..plugins.manager import get_registry

    return get_registry().ops


# ---------------------------------------------------------------------------
# reference page
# ---------------------------------------------------------------------------

def _field_text(name: str, info: Any) -> str:
    from ..spec_schema.reference import _constraints, _type_name  # the spec reference's renderers

    bounds = _constraints(info)
    kind = "activation" if name == "activation" else _type_name(info.annotation)
    desc = info.description or ""
    return f"  - `{name}` ({kind}{', ' + bounds if bounds else ''}){' — ' + desc if desc else ''}"


def ops_markdown(table: Mapping[str, OpDef] | None = None) -> str:
    """The IR op reference (docs/ir-ops.md)."""
    table = table or BUILTIN_OPS
    lines = [
        "# IR ops",
        "",
        "<!-- generated by `dnnc schema --ops`; do not edit by hand -->",
        "",
        "The closed set of ops a backend implements (`dnnc/compiler/ops.py`). Every attribute is required in the",
        "IR: the compiler resolves every default, so a backend never supplies a value of its own. Shapes exclude",
        "the batch axis and are channels-last. Parameters are listed in canonical order with their canonical",
        "layout; the canonical weight key is `<node>/<param>`. `dnnc.compiler.verify.verify` checks every node",
        "against this table. An `activation` attribute is one of the spec's activations with every parameter",
        "written out (`dnnc/compiler/ir_types.py`), e.g. `{ type = \"leaky_relu\", negative_slope = 0.01 }`.",
        "A node with parameters may be frozen (the node's `trainable` is false, from `trainable = false` on the",
        "layer): none of its parameters is trained (no gradient, no optimizer slot, no penalty), and an op whose",
        "behaviour depends on it says so in an attribute (`batch_norm`: `inference_mode`).",
        "",
    ]
    for name, op in table.items():
        hi = "any number of" if op.max_inputs is None else str(op.max_inputs)
        arity = str(op.min_inputs) if op.min_inputs == op.max_inputs else f"{op.min_inputs} to {hi}"
        lines += [f"## `{name}`", "", op.doc, "", f"- inputs: {arity}"]
        fields = op.attrs.model_fields
        if fields:
            lines.append("- attributes:")
            lines += [_field_text(n, f) for n, f in fields.items()]
        else:
            lines.append("- attributes: none")
        if op.layout:
            lines.append(f"- parameters: {op.layout}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
