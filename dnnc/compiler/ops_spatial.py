"""The IR's spatial ops over channels-last data: convolutions, pooling, global pooling, zero padding,
nearest upsampling and spatial dropout (part of the op table).

Imported by :mod:`dnnc.compiler.ops` (which lists these ops in ``BUILTIN_OPS``);
import the table from there.  Shapes exclude the batch axis and are
channels-last: a 2-D op takes ``(H, W, C)``, a 1-D op ``(L, C)``.

The padding rule (TensorFlow's, and therefore every backend's)
--------------------------------------------------------------
For one spatial axis of size ``n`` with window ``k``, stride ``s`` and dilation
``d`` (pooling: ``d = 1``), the effective window is ``k_eff = (k − 1)·d + 1`` and

* ``valid``: no padding; ``out = ⌊(n − k_eff)/s⌋ + 1`` (must be positive);
* ``same``: ``out = ⌈n/s⌉``; ``total = max((out − 1)·s + k_eff − n, 0)`` cells
  are added, ``total // 2`` before and the rest (one more when ``total`` is
  odd) after — at the bottom/right.

:func:`padding_amounts` is the one implementation; the reference and the
torch backend (which pads explicitly) use it.  A convolution pads with
zeros; max pooling with −∞ (a padded cell never wins); average pooling
divides each window's sum by its number of *real* cells (padded cells are not
counted, TensorFlow's rule).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Sequence

from pydantic import Field, StrictBool, StrictInt

from .ir_types import ActivationIR
from .ops import DropoutAttrs, LoweringError, NoAttrs, OpAttrs, OpDef, ParamSpec, Shape

PositiveInt = Annotated[StrictInt, Field(gt=0)]
Padding = Literal["valid", "same"]


def padding_amounts(n: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    """(cells before, cells after) of one spatial axis (see the module docstring)."""
    if padding == "valid":
        return 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def output_size(n: int, k: int, s: int, d: int, padding: str) -> int:
    """The output size of one spatial axis (≤ 0 when the window does not fit a ``valid`` input)."""
    if padding == "same":
        return -(-n // s)
    return (n - ((k - 1) * d + 1)) // s + 1


# ---------------------------------------------------------------------------
# attribute models
# ---------------------------------------------------------------------------

class ConvAttrs(OpAttrs):
    filters: StrictInt = Field(..., gt=0, description="Output channels.")
    kernel_size: tuple[PositiveInt, ...] = Field(..., min_length=1, max_length=2,
                                                 description="Window size per spatial axis.")
    strides: tuple[PositiveInt, ...] = Field(..., min_length=1, max_length=2, description="Step per spatial axis.")
    padding: Padding = Field(..., description="`valid` (none) or `same` (TensorFlow's rule, see above).")
    dilation_rate: tuple[PositiveInt, ...] = Field(..., min_length=1, max_length=2,
                                                   description="Spacing of the window's cells per spatial axis.")
    groups: StrictInt = Field(..., gt=0, description="Channel groups: input channel group g feeds only output "
                                                     "channel group g.")
    use_bias: StrictBool = Field(..., description="Whether the op has a bias parameter.")
    activation: ActivationIR = Field(..., description="Activation applied to conv(x, kernel) + bias.")


class PoolAttrs(OpAttrs):
    pool_size: tuple[PositiveInt, ...] = Field(..., min_length=1, max_length=2, description="Window size per "
                                                                                            "spatial axis.")
    strides: tuple[PositiveInt, ...] = Field(..., min_length=1, max_length=2, description="Step per spatial axis.")
    padding: Padding = Field(..., description="`valid` (none) or `same` (TensorFlow's rule; padded cells are "
                                              "ignored).")


class ZeroPaddingAttrs(OpAttrs):
    padding: tuple[tuple[Annotated[StrictInt, Field(ge=0)], Annotated[StrictInt, Field(ge=0)]], ...] = Field(
        ..., min_length=2, max_length=2, description="((top, bottom), (left, right)): zero rows and columns added.")


class UpSamplingAttrs(OpAttrs):
    size: tuple[PositiveInt, ...] = Field(..., min_length=2, max_length=2,
                                          description="(rows, columns): how often each row and column is repeated.")
    interpolation: Literal["nearest"] = Field(..., description="Each input cell becomes a size[0] × size[1] block.")


# ---------------------------------------------------------------------------
# shape and parameter rules
# ---------------------------------------------------------------------------

def _spatial_input(shapes: Sequence[Shape], rank: int, op: str) -> Shape:
    shape = shapes[0]
    if len(shape) != rank + 1:
        axes = "(length, channels)" if rank == 1 else "(height, width, channels)"
        raise LoweringError(f"{op} needs inputs of rank {rank + 1} {axes}, batch axis excluded", key="inputs",
                            received=list(shape), allowed=f"rank {rank + 1}")
    return shape


def _check_lengths(attrs: Any, rank: int, fields: Sequence[str]) -> None:
    for f in fields:
        value = getattr(attrs, f)
        if len(value) != rank:
            raise LoweringError(f"{f} needs {rank} entr{'y' if rank == 1 else 'ies'} for a {rank}-D op",
                                key=f, received=list(value), allowed=f"{rank} positive integers")


def _window_shape(shape: Shape, window: Sequence[int], strides: Sequence[int], dilation: Sequence[int],
                  padding: str, key: str) -> list[int]:
    out = [output_size(n, k, s, d, padding) for n, k, s, d in zip(shape, window, strides, dilation)]
    if any(o <= 0 for o in out):
        eff = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
        raise LoweringError(f"the window {eff} does not fit the input {list(shape)} with padding 'valid'", key=key,
                            received=list(window), allowed=f"a window at most {list(shape)} (or padding 'same')")
    return out


def _conv_shape(rank: int):
    def rule(attrs: ConvAttrs, shapes: Sequence[Shape]) -> Shape:
        op = f"conv{rank}d"
        shape = _spatial_input(shapes, rank, op)
        _check_lengths(attrs, rank, ("kernel_size", "strides", "dilation_rate"))
        channels = shape[-1]
        if channels % attrs.groups or attrs.filters % attrs.groups:
            raise LoweringError(f"groups must divide the input channels ({channels}) and the filters "
                                f"({attrs.filters})", key="groups", received=attrs.groups,
                                allowed="a common divisor of both")
        if max(attrs.strides) > 1 and max(attrs.dilation_rate) > 1:
            raise LoweringError("strides > 1 cannot be combined with dilation_rate > 1 (Keras refuses it)",
                                key="strides", received=list(attrs.strides), allowed="1 when dilation_rate > 1")
        out = _window_shape(shape[:-1], attrs.kernel_size, attrs.strides, attrs.dilation_rate, attrs.padding,
                            "kernel_size")
        return (*out, attrs.filters)

    return rule


def _conv_params(attrs: ConvAttrs, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    kernel = (*attrs.kernel_size, shapes[0][-1] // attrs.groups, attrs.filters)
    params = [ParamSpec("kernel", kernel, True)]
    if attrs.use_bias:
        params.append(ParamSpec("bias", (attrs.filters,), True))
    return tuple(params)


def _pool_shape(rank: int, kind: str):
    def rule(attrs: PoolAttrs, shapes: Sequence[Shape]) -> Shape:
        shape = _spatial_input(shapes, rank, f"{kind}_pool{rank}d")
        _check_lengths(attrs, rank, ("pool_size", "strides"))
        out = _window_shape(shape[:-1], attrs.pool_size, attrs.strides, (1,) * rank, attrs.padding, "pool_size")
        return (*out, shape[-1])

    return rule


def _global_shape(rank: int, kind: str):
    def rule(attrs: Any, shapes: Sequence[Shape]) -> Shape:
        return (_spatial_input(shapes, rank, f"global_{kind}_pool{rank}d")[-1],)

    return rule


def _zero_padding_shape(attrs: ZeroPaddingAttrs, shapes: Sequence[Shape]) -> Shape:
    h, w, c = _spatial_input(shapes, 2, "zero_padding2d")
    (top, bottom), (left, right) = attrs.padding
    return (h + top + bottom, w + left + right, c)


def _spatial_dropout_shape(attrs: DropoutAttrs, shapes: Sequence[Shape]) -> Shape:
    return _spatial_input(shapes, 2, "spatial_dropout2d")


def _upsampling_shape(attrs: UpSamplingAttrs, shapes: Sequence[Shape]) -> Shape:
    h, w, c = _spatial_input(shapes, 2, "upsampling2d")
    return (h * attrs.size[0], w * attrs.size[1], c)


# ---------------------------------------------------------------------------
# the ops
# ---------------------------------------------------------------------------

_CONV_DOC = ("y = activation(conv(x, kernel) + bias) over channels-last input: output[o, f] = Σ_{i, c} "
             "x[o·strides + i·dilation_rate − pad_before, c]·kernel[i, c, f] with c over the input channels of "
             "f's group (zeros outside the input); `same` padding follows TensorFlow's rule (more after than "
             "before when the total is odd, see `dnnc/compiler/ops_spatial.py`).")
_POOL_DOC = {
    "max": "The maximum over each window (cells outside the input never win). On an exact tie the gradient goes "
           "to one of the tied cells (TensorFlow and torch take the first in row-major window order).",
    "avg": "The mean of each window's real cells: the window's sum divided by the number of cells inside the "
           "input (padded cells are not counted, TensorFlow's rule).",
}
_GLOBAL_DOC = {
    "max": "The maximum over every spatial axis, per channel; output (C,). On ties the gradient is split evenly "
           "between the maxima (TensorFlow's reduce_max).",
    "avg": "The mean over every spatial axis, per channel; output (C,).",
}


def _spatial_ops() -> list[OpDef]:
    ops = []
    for rank in (1, 2):
        window = "k" if rank == 1 else "kh, kw"
        ops.append(OpDef(f"conv{rank}d", ConvAttrs, _CONV_DOC, _conv_shape(rank), params=_conv_params,
                         layout=f"kernel ({window}, in/groups, filters) (Keras's layout; torch's weight is "
                                f"(filters, in/groups, {window}): `dnnc.backends.torch.layout`), bias (filters,)."))
        for kind in ("max", "avg"):
            ops.append(OpDef(f"{kind}_pool{rank}d", PoolAttrs, _POOL_DOC[kind], _pool_shape(rank, kind)))
        for kind in ("max", "avg"):
            ops.append(OpDef(f"global_{kind}_pool{rank}d", NoAttrs, _GLOBAL_DOC[kind], _global_shape(rank, kind)))
    ops.append(OpDef("zero_padding2d", ZeroPaddingAttrs, "Zeros added around (height, width, channels) input: "
                     "`padding` rows at the top and bottom, columns at the left and right.", _zero_padding_shape))
    ops.append(OpDef("upsampling2d", UpSamplingAttrs, "Nearest-neighbour upsampling: output[i, j] = "
                     "input[⌊i/size[0]⌋, ⌊j/size[1]⌋] (each cell's gradient is the sum over its block).",
                     _upsampling_shape))
    ops.append(OpDef("spatial_dropout2d", DropoutAttrs, "Inverted dropout of whole feature maps: in training mode "
                     "y = x·mask/(1 − rate) with one mask value ~ Bernoulli(1 − rate) per sample and channel, the "
                     "same at every (h, w) (dnnc draws the masks, of shape (1, 1, C) per sample, under strict "
                     "parity); identity at inference.", _spatial_dropout_shape,
                     mask_shape=lambda attrs, shape: (1, 1, shape[-1])))
    return ops


SPATIAL_OPS: list[OpDef] = _spatial_ops()
"""The spatial ops, in the order the op table lists them."""
