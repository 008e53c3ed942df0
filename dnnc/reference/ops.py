"""One forward and one backward function per IR op (the reference's converter table).

``forward(node, xs, params, ctx) -> (y, cache)`` and
``backward(node, dy, cache, params, ctx, need_dx) -> (dxs, dparams)``, written
with :mod:`dnnc.reference.arith` (every mode).  ``ctx`` is the :class:`Pass`:
the mode, training or inference, the dropout masks, and where batch norm writes
its moving-statistics update.  Semantics are the op definitions of
:mod:`dnnc.compiler.ops`; where frameworks evaluate an op with different
formulas (batch norm), the bound is the larger of the formulas' bounds
(:func:`either`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import arith as A
from .activations import activation_backward, activation_forward
from .spatial import SPATIAL_OPS


@dataclass
class Pass:
    """What one pass through the graph knows besides the values."""

    mode: str
    training: bool
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: moving statistics after this pass (canonical key → value), written by batch norm in training mode
    moving: dict[str, A.Value] = field(default_factory=dict)


Forward = Callable[[Any, list, Mapping[str, A.Value], Pass], tuple[A.Value, Any]]
Backward = Callable[[Any, A.Value, Any, Mapping[str, A.Value], Pass, Sequence[bool]], tuple[list, dict]]


either = A.either

# ---------------------------------------------------------------------------
# input, dense, maxout
# ---------------------------------------------------------------------------

def input_forward(node, xs, p, ctx):
    return xs[0], None


def _linear(x, p, use_bias: bool):
    z = A.matmul(x, p["kernel"])
    return z + p["bias"] if use_bias else z


def _linear_backward(x, p, use_bias: bool, dz, need_dx: bool):
    """z = x @ K + b ⇒ ∂K = xᵀ·dz, ∂b = Σ_rows dz, ∂x = dz·Kᵀ (leading axes folded into rows)."""
    x2 = x.reshape(-1, A.value(x).shape[-1])
    dz2 = dz.reshape(-1, A.value(dz).shape[-1])
    grads = {"kernel": A.matmul(x2.T, dz2)}
    if use_bias:
        grads["bias"] = A.sum_(dz2, axis=0)
    return (A.matmul(dz, p["kernel"].T) if need_dx else None), grads


def dense_forward(node, xs, p, ctx):
    a = node.attrs
    z = _linear(xs[0], p, a.use_bias)
    y = activation_forward(a.activation, z, ctx.mode)
    return y, (xs[0], z, y)


def dense_backward(node, dy, cache, p, ctx, need_dx):
    x, z, y = cache
    a = node.attrs
    dz = activation_backward(a.activation, z, y, dy, ctx.mode)
    dx, grads = _linear_backward(x, p, a.use_bias, dz, need_dx[0])
    return [dx], grads


def maxout_forward(node, xs, p, ctx):
    a = node.attrs
    z = _linear(xs[0], p, a.use_bias)
    zshape = A.value(z).shape
    y, route = A.max_reduce(z.reshape(*zshape[:-1], a.units, a.pieces), axis=-1)
    return y, (xs[0], zshape, route)


def maxout_backward(node, dy, cache, p, ctx, need_dx):
    x, zshape, route = cache
    dz = A.max_backward(dy, route, axis=-1).reshape(zshape)
    dx, grads = _linear_backward(x, p, node.attrs.use_bias, dz, need_dx[0])
    return [dx], grads


# ---------------------------------------------------------------------------
# batch norm
# ---------------------------------------------------------------------------

def batch_norm_forward(node, xs, p, ctx):
    """Batch statistics (mean, biased variance; two passes) in training mode, the moving ones at inference and
    in a node with ``inference_mode`` (a frozen batch norm: moving statistics used and never updated).

    Two formulas are bounded: ``(x − μ)·(γ/σ) + β`` (torch) and ``x·s + (β − μ·s)``, ``s = γ/σ``
    (``tf.nn.batch_normalization``)."""
    a = node.attrs
    x = xs[0]
    shape = A.value(x).shape
    x2 = x.reshape(-1, shape[-1])
    eps = A.const(a.epsilon, ctx.mode)
    if ctx.training and not a.inference_mode:
        mu = A.mean(x2, axis=0)
        d = x2 - mu
        var = A.mean(A.square(d), axis=0)
        m = A.const(a.momentum, ctx.mode)
        for stat, batch in (("moving_mean", mu), ("moving_variance", var)):
            ctx.moving[f"{node.name}/{stat}"] = m * p[stat] + (1.0 - m) * batch
    else:
        mu, var = p["moving_mean"], p["moving_variance"]
        d = x2 - mu
    return _normalized(a, x2, d, mu, var, eps, p, shape)


def _normalized(a, x2, d, mu, var, eps, p, shape):
    """``(x − μ)·(γ/σ) + β`` (torch) and ``x·s + (β − μ·s)``, ``s = γ/σ`` (TensorFlow), bounded by the larger
    bound; γ and β as the attributes `a` say.  Returns (y of `shape`, the backward's cache)."""
    inv = 1.0 / A.sqrt(var + eps)
    scale = inv * p["gamma"] if a.scale else inv
    y1 = d * scale
    y2 = x2 * scale - mu * scale
    if a.center:
        y1, y2 = y1 + p["beta"], x2 * scale + (p["beta"] - mu * scale)
    return either(y1, y2).reshape(shape), (x2, d, mu, inv, scale, shape)


def batch_norm_backward(node, dy, cache, p, ctx, need_dx):
    """The closed form (torch's kernel) and the chain rule through ``x·s + (β − μ·s)`` (TensorFlow's autodiff),
    bounded by the larger bound."""
    a = node.attrs
    x2, d, mu, inv, scale, shape = cache
    dy2 = dy.reshape(-1, shape[-1])
    rows = A.value(dy2).shape[0]
    xhat = d * inv
    grads = {}
    sum_dy = A.sum_(dy2, axis=0)
    if a.scale:
        closed = A.sum_(dy2 * xhat, axis=0)
        chained = (A.sum_(dy2 * x2, axis=0) - mu * sum_dy) * inv
        grads["gamma"] = either(closed, chained)
    if a.center:
        grads["beta"] = sum_dy
    if not need_dx[0]:
        return [None], grads
    if not ctx.training or a.inference_mode:
        return [(dy2 * scale).reshape(shape)], grads
    dxhat = dy2 * p["gamma"] if a.scale else dy2
    # closed form: ∂x = inv/M · (M·∂x̂ − Σ∂x̂ − x̂·Σ(∂x̂·x̂))
    closed = (inv / float(rows)) * (float(rows) * dxhat - A.sum_(dxhat, axis=0) - xhat * A.sum_(dxhat * xhat, axis=0))
    # chain rule: y = x·s + β − μ·s, s = γ·inv, inv = (var + ε)^(−1/2), var = mean((x − μ)²)
    ds = A.sum_(dy2 * x2, axis=0) - mu * sum_dy
    dinv = ds * p["gamma"] if a.scale else ds
    dvar = dinv * (-0.5) * inv * inv * inv
    dmu = -(scale * sum_dy)
    chained = dy2 * scale + dmu / float(rows) + (2.0 / rows) * d * dvar
    return [either(closed, chained).reshape(shape)], grads


# ---------------------------------------------------------------------------
# layer norm
# ---------------------------------------------------------------------------

def layer_norm_forward(node, xs, p, ctx):
    """Per row (every position of the last axis' samples): mean, biased variance (two passes), then the two
    formulas ``(x − μ)·(γ/σ) + β`` (torch's ``layer_norm``) and ``x·s + (β − μ·s)``, ``s = γ/σ`` (Keras's
    ``ops.layer_normalization`` on TensorFlow), bounded by the larger bound."""
    a = node.attrs
    x = xs[0]
    shape = A.value(x).shape
    x2 = x.reshape(-1, shape[-1])
    mu = A.mean(x2, axis=1, keepdims=True)
    d = x2 - mu
    var = A.mean(A.square(d), axis=1, keepdims=True)
    return _normalized(a, x2, d, mu, var, A.const(a.epsilon, ctx.mode), p, shape)


def layer_norm_backward(node, dy, cache, p, ctx, need_dx):
    """The closed form (torch's kernel) and the chain rule through ``x·s + (β − μ·s)`` (TensorFlow's autodiff),
    statistics per row over the C entries of the last axis."""
    a = node.attrs
    x2, d, mu, inv, scale, shape = cache
    dy2 = dy.reshape(-1, shape[-1])
    c = A.value(dy2).shape[1]
    xhat = d * inv
    grads = {}
    if a.scale:
        grads["gamma"] = either(A.sum_(dy2 * xhat, axis=0), A.sum_(dy2 * x2 * inv, axis=0) - A.sum_(dy2 * mu * inv, axis=0))
    if a.center:
        grads["beta"] = A.sum_(dy2, axis=0)
    if not need_dx[0]:
        return [None], grads
    dxhat = dy2 * p["gamma"] if a.scale else dy2
    closed = (inv / float(c)) * (float(c) * dxhat - A.sum_(dxhat, axis=1, keepdims=True)
                                 - xhat * A.sum_(dxhat * xhat, axis=1, keepdims=True))
    # chain rule: y = x·s + β − μ·s, s = γ·inv, inv = (var + ε)^(−1/2), var = mean((x − μ)²) (μ held fixed there)
    dinv = A.sum_(dxhat * x2, axis=1, keepdims=True) - mu * A.sum_(dxhat, axis=1, keepdims=True)
    dvar = dinv * (-0.5) * inv * inv * inv
    dmu = -A.sum_(dy2 * scale, axis=1, keepdims=True)
    chained = dy2 * scale + dmu / float(c) + (2.0 / c) * d * dvar
    return [either(closed, chained).reshape(shape)], grads


# ---------------------------------------------------------------------------
# ops without parameters
# ---------------------------------------------------------------------------

def dropout_forward(node, xs, p, ctx):
    """Inverted dropout with the given keep mask in training mode (broadcast: a spatial dropout's mask has one
    value per sample and channel); the identity at inference."""
    x = xs[0]
    if not ctx.training or node.attrs.rate == 0.0:
        return x, None
    mask = ctx.masks.get(node.name)
    if mask is None:
        raise ValueError(f"the reference needs the dropout mask of {node.name!r} in training mode "
                         "(it draws no random numbers)")
    keep = A.array(mask, ctx.mode)
    scale = 1.0 - A.const(node.attrs.rate, ctx.mode)
    return x * keep / scale, (keep, scale)


def dropout_backward(node, dy, cache, p, ctx, need_dx):
    if cache is None:
        return [dy], {}
    keep, scale = cache
    return [dy * keep / scale], {}


def activation_forward_op(node, xs, p, ctx):
    y = activation_forward(node.attrs.activation, xs[0], ctx.mode)
    return y, (xs[0], y)


def activation_backward_op(node, dy, cache, p, ctx, need_dx):
    z, y = cache
    return [activation_backward(node.attrs.activation, z, y, dy, ctx.mode)], {}


def flatten_forward(node, xs, p, ctx):
    shape = A.value(xs[0]).shape
    return xs[0].reshape(shape[0], -1), shape


def reshape_forward(node, xs, p, ctx):
    shape = A.value(xs[0]).shape
    return xs[0].reshape(shape[0], *node.attrs.shape), shape


def reshape_backward(node, dy, shape, p, ctx, need_dx):
    return [dy.reshape(shape)], {}


def concatenate_forward(node, xs, p, ctx):
    axis = node.attrs.axis
    return A.concatenate(xs, axis), [A.value(x).shape[axis] for x in xs]


def concatenate_backward(node, dy, sizes, p, ctx, need_dx):
    return A.split(dy, sizes, node.attrs.axis), {}


def add_forward(node, xs, p, ctx):
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y, len(xs)


def add_backward(node, dy, n, p, ctx, need_dx):
    return [dy] * n, {}


def subtract_forward(node, xs, p, ctx):
    return xs[0] - xs[1], None


def subtract_backward(node, dy, cache, p, ctx, need_dx):
    return [dy, -dy], {}


def average_forward(node, xs, p, ctx):
    y, n = add_forward(node, xs, p, ctx)
    return y / float(n), n


def average_backward(node, dy, n, p, ctx, need_dx):
    return [dy / float(n)] * n, {}


def multiply_forward(node, xs, p, ctx):
    partial = [xs[0]]  # partial[k] = x₁·…·x_{k+1}
    for x in xs[1:]:
        partial.append(partial[-1] * x)
    return partial[-1], (xs, partial)


def multiply_backward(node, dy, cache, p, ctx, need_dx):
    xs, partial = cache
    dxs: list = [None] * len(xs)
    d = dy
    for k in range(len(xs) - 1, 0, -1):
        dxs[k] = d * partial[k - 1]
        d = d * xs[k]
    dxs[0] = d
    return dxs, {}


def _select_forward(left_wins: Callable[[A.Value, A.Value], Any]) -> Forward:
    """Left fold of a pairwise selection; an exact tie goes to the left operand (the IR's convention)."""

    def forward(node, xs, p, ctx):
        y = xs[0]
        picks = []
        for x in xs[1:]:
            pick = left_wins(y, x)
            picks.append(pick)
            y = A.select(pick, y, x)
        return y, picks

    return forward


def select_backward(node, dy, picks, p, ctx, need_dx):
    dxs: list = [None] * (len(picks) + 1)
    d = dy
    zero = A.zeros_like(dy)
    for k in range(len(picks) - 1, -1, -1):
        dxs[k + 1] = A.select(picks[k], zero, d)
        d = A.select(picks[k], d, zero)
    dxs[0] = d
    return dxs, {}


maximum_forward = _select_forward(lambda a, b: A.greater_equal(a, b, exact_tie_uncertain=False))
minimum_forward = _select_forward(lambda a, b: A.less_equal(a, b, exact_tie_uncertain=False))


OPS: dict[str, tuple[Forward, Backward | None]] = {
    "input": (input_forward, None),
    "dense": (dense_forward, dense_backward),
    "maxout": (maxout_forward, maxout_backward),
    "flatten": (flatten_forward, reshape_backward),
    "reshape": (reshape_forward, reshape_backward),
    "batch_norm": (batch_norm_forward, batch_norm_backward),
    "layer_norm": (layer_norm_forward, layer_norm_backward),
    "dropout": (dropout_forward, dropout_backward),
    "spatial_dropout2d": (dropout_forward, dropout_backward),  # the (N, 1, 1, C) mask broadcasts
    "activation": (activation_forward_op, activation_backward_op),
    "concatenate": (concatenate_forward, concatenate_backward),
    "add": (add_forward, add_backward),
    "subtract": (subtract_forward, subtract_backward),
    "multiply": (multiply_forward, multiply_backward),
    "average": (average_forward, average_backward),
    "maximum": (maximum_forward, select_backward),
    "minimum": (minimum_forward, select_backward),
    **SPATIAL_OPS,
}
"""IR op → (forward, backward).  Its keys are the ops the reference implements (every built-in op)."""

from .recurrent import RECURRENT_OPS  # noqa: E402  (uses `either` above)

OPS.update(RECURRENT_OPS)
