"""Every IR activation: its formula and its derivative, written with :mod:`dnnc.reference.arith`.

One entry per activation type: ``forward(act, z, mode) -> y`` and
``derivative(act, z, y, mode) -> f'(z)`` (the backward pass multiplies by the
upstream gradient; softmax, the one activation that is not element-wise, has
its own vector-Jacobian product, :func:`softmax_backward`).  Hyperparameters
are :func:`~dnnc.reference.arith.const` (their float32 representation error
is part of the bound).

Each formula is the one a float32 implementation is assumed to evaluate, so
that the bound covers it, plus :data:`ACTIVATION_ULPS` for implementations by
other formulas; where frameworks differ grossly, the less accurate form is
written (``α(eˣ − 1)`` for elu rather than ``α·expm1(x)``; ``½x(1 + erf(x/√2))``
for gelu, which loses all relative accuracy far left of zero in float32).
Kinks (relu, relu6, leaky relu, elu, selu, hard sigmoid) go through
:func:`~dnnc.reference.arith.select`: an element within float32 noise of the
kink is judged with both one-sided values.  The derivative at a kink is the one
TensorFlow and PyTorch give (relu'(0) = 0, selu'(0) = λ, …).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from . import arith as A

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
GELU_C = math.sqrt(2.0 / math.pi)
INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Forward = Callable[[Any, A.Value, str], A.Value]
Derivative = Callable[[Any, A.Value, A.Value, str], A.Value]


def _c(x: float, mode: str) -> A.Value:
    return A.const(x, mode)


def _zero(z: A.Value) -> A.Value:
    return A.zeros_like(z)


def _sigmoid(z: A.Value) -> A.Value:
    # 1/(1 + e^−z) for z ≥ 0, e^z/(1 + e^z) below: no overflow, relative accuracy on both sides.
    ez = A.exp(-A.absolute(z))
    return A.select(A.greater_equal(z, 0.0, exact_tie_uncertain=False), 1.0 / (1.0 + ez), ez / (1.0 + ez))


def _softplus(z: A.Value) -> A.Value:
    # max(z, 0) + log1p(e^−|z|)
    return A.select(A.greater(z, 0.0), z, _zero(z)) + A.log1p(A.exp(-A.absolute(z)))


# -- forward formulas -----------------------------------------------------------------------------

def linear(a, z, mode):
    return z


def relu(a, z, mode):
    return A.select(A.greater(z, 0.0), z, _zero(z))


def relu6(a, z, mode):
    return A.select(A.greater(z, 0.0), A.select(A.less(z, 6.0), z, A.full_like(z, 6.0)), _zero(z))


def leaky_relu(a, z, mode):
    return A.select(A.greater(z, 0.0), z, _c(a.negative_slope, mode) * z)


def elu(a, z, mode):
    return A.select(A.greater(z, 0.0), z, _c(a.alpha, mode) * (A.exp(z) - 1.0))


def selu(a, z, mode):
    neg = _c(SELU_SCALE * SELU_ALPHA, mode) * (A.exp(z) - 1.0)
    return A.select(A.greater_equal(z, 0.0), _c(SELU_SCALE, mode) * z, neg)


def gelu(a, z, mode):
    if a.approximate:
        inner = _c(GELU_C, mode) * (z + _c(0.044715, mode) * (z * A.square(z)))
        return 0.5 * z * (1.0 + A.tanh(inner))
    return 0.5 * z * (1.0 + A.erf(z * _c(INV_SQRT2, mode)))


def sigmoid(a, z, mode):
    return _sigmoid(z)


def hard_sigmoid(a, z, mode):
    return relu6(a, z + 3.0, mode) / 6.0


def tanh(a, z, mode):
    return A.tanh(z)


def softmax(a, z, mode):
    e = A.exp(z - A.max_value(z))
    return e / A.sum_(e, axis=-1, keepdims=True)


def softplus(a, z, mode):
    return _softplus(z)


def softsign(a, z, mode):
    return z / (1.0 + A.absolute(z))


def swish(a, z, mode):
    return z * _sigmoid(z)


def mish(a, z, mode):
    return z * A.tanh(_softplus(z))


# -- derivatives f'(z) (y = f(z) given) ---------------------------------------------------------------

def d_linear(a, z, y, mode):
    return A.full_like(z, 1.0)


def d_relu(a, z, y, mode):
    return A.select(A.greater(z, 0.0), A.full_like(z, 1.0), _zero(z))


def d_relu6(a, z, y, mode):
    inside = A.both(A.greater(z, 0.0), A.less(z, 6.0))
    return A.select(inside, A.full_like(z, 1.0), _zero(z))


def d_leaky_relu(a, z, y, mode):
    return A.select(A.greater(z, 0.0), A.full_like(z, 1.0), _c(a.negative_slope, mode))


def d_elu(a, z, y, mode):
    return A.select(A.greater(z, 0.0), A.full_like(z, 1.0), _c(a.alpha, mode) * A.exp(z))


def d_selu(a, z, y, mode):
    return A.select(A.greater_equal(z, 0.0), _c(SELU_SCALE, mode),
                    _c(SELU_SCALE * SELU_ALPHA, mode) * A.exp(z))


def d_gelu(a, z, y, mode):
    if a.approximate:
        z2 = A.square(z)
        t = A.tanh(_c(GELU_C, mode) * (z + _c(0.044715, mode) * (z * z2)))
        dinner = _c(GELU_C, mode) * (1.0 + _c(3 * 0.044715, mode) * z2)
        return 0.5 * (1.0 + t) + 0.5 * z * ((1.0 - A.square(t)) * dinner)
    cdf = 0.5 * (1.0 + A.erf(z * _c(INV_SQRT2, mode)))
    pdf = _c(INV_SQRT_2PI, mode) * A.exp(-0.5 * A.square(z))
    return cdf + z * pdf


def d_sigmoid(a, z, y, mode):
    return y * (1.0 - y)


def d_hard_sigmoid(a, z, y, mode):
    inside = A.both(A.greater(z, -3.0), A.less(z, 3.0))
    return A.select(inside, A.full_like(z, 1.0 / 6.0), _zero(z))


def d_tanh(a, z, y, mode):
    return 1.0 - A.square(y)


def d_softplus(a, z, y, mode):
    return _sigmoid(z)


def d_softsign(a, z, y, mode):
    return 1.0 / A.square(1.0 + A.absolute(z))


def d_swish(a, z, y, mode):
    s = _sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def d_mish(a, z, y, mode):
    t = A.tanh(_softplus(z))
    return t + z * (_sigmoid(z) * (1.0 - A.square(t)))


def softmax_backward(y: A.Value, dy: A.Value) -> A.Value:
    """The vector-Jacobian product of softmax over the last axis: y ⊙ (dy − Σ dy·y)."""
    return y * (dy - A.sum_(dy * y, axis=-1, keepdims=True))


ACTIVATIONS: dict[str, tuple[Forward, Derivative | None]] = {
    "linear": (linear, d_linear),
    "relu": (relu, d_relu),
    "relu6": (relu6, d_relu6),
    "leaky_relu": (leaky_relu, d_leaky_relu),
    "elu": (elu, d_elu),
    "selu": (selu, d_selu),
    "gelu": (gelu, d_gelu),
    "sigmoid": (sigmoid, d_sigmoid),
    "hard_sigmoid": (hard_sigmoid, d_hard_sigmoid),
    "tanh": (tanh, d_tanh),
    "softmax": (softmax, None),
    "softplus": (softplus, d_softplus),
    "softsign": (softsign, d_softsign),
    "swish": (swish, d_swish),
    "silu": (swish, d_swish),
    "mish": (mish, d_mish),
}
"""Activation type → (forward, derivative); softmax's backward is :func:`softmax_backward`."""


ACTIVATION_ULPS = 4.0
"""A framework may evaluate an activation (or its derivative) by another formula than the one written here
(softplus as ``log1p(exp(x))``, sigmoid through tanh, …): each result is allowed this many more
``u·|f(x)|`` on top of its formula's bound."""


def _any_formula(x: A.Value) -> A.Value:
    if not isinstance(x, A.Bounded):
        return x
    return A.Bounded(x.v, x.bound + ACTIVATION_ULPS * A.U32 * abs(x.v))


def activation_forward(act: Any, z: A.Value, mode: str) -> A.Value:
    if act.type == "linear":
        return z
    return _any_formula(_table(act)[0](act, z, mode))


def activation_backward(act: Any, z: A.Value, y: A.Value, dy: A.Value, mode: str) -> A.Value:
    """∂L/∂z from ∂L/∂y."""
    if act.type == "linear":
        return dy
    if act.type == "softmax":
        return _any_formula(softmax_backward(y, dy))
    return dy * _any_formula(_table(act)[1](act, z, y, mode))


def _table(act: Any) -> tuple[Forward, Derivative | None]:
    try:
        return ACTIVATIONS[act.type]
    except KeyError:
        raise ValueError(f"the reference has no activation {act.type!r} (known: {', '.join(sorted(ACTIVATIONS))})") from None
