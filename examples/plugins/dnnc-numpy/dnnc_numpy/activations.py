"""Activation functions written out by hand: each one is a forward formula and its derivative.

Every activation is an :class:`Activation` with

* ``forward(x) -> y``
* ``backward(x, y, dy) -> dx``: the vector-Jacobian product, given the input
  ``x``, the output ``y`` (often the cheapest way to the derivative) and the
  upstream gradient ``dy``.

The formulas are dnnc's (``dnnc/spec_schema/activations.py``); where a
derivative is not defined (a kink) we pick what TensorFlow and PyTorch pick,
so gradients agree with the built-in backends:

============  ==========================================  =====================================
activation    f(x)                                        f'(x)
============  ==========================================  =====================================
linear        x                                           1
relu          max(x, 0)                                   1 if x > 0 else 0 (0 at x = 0)
relu6         min(max(x, 0), 6)                           1 if 0 < x < 6 else 0
leaky_relu    x if x > 0 else s·x                         1 if x > 0 else s
elu           x if x > 0 else α(eˣ − 1)                   1 if x > 0 else α·eˣ
selu          λx if x >= 0 else λα(eˣ − 1)                λ if x >= 0 else λα·eˣ (λ at 0, as TF)
gelu          x·Φ(x)  (Φ with the exact erf)              Φ(x) + x·φ(x)
gelu (tanh)   ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³)  ½(1 + tanh u) + ½x(1 − tanh²u)·u'
sigmoid       1/(1 + e⁻ˣ)                                 y(1 − y)
hard_sigmoid  relu6(x + 3)/6                              1/6 if −3 < x < 3 else 0
tanh          tanh x                                      1 − y²
softmax       eˣⁱ/Σⱼeˣʲ over the last axis                y ⊙ (dy − Σ dy·y)
softplus      log(1 + eˣ) = max(x, 0) + log1p(e^−|x|)     sigmoid(x)
softsign      x/(1 + |x|)                                 1/(1 + |x|)²
swish, silu   x·σ(x)                                      σ(x)(1 + x(1 − σ(x)))
mish          x·tanh(softplus(x))                         tanh(sp) + x·σ(x)(1 − tanh²(sp))
============  ==========================================  =====================================

All functions keep the dtype of their input (float32 in the backend, float64
in the gradient checks).  NumPy has no vectorised ``erf``: the exact GELU uses
``math.erf`` element by element (:func:`erf`), exact but slower than the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Forward = Callable[[np.ndarray], np.ndarray]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """One activation function and its derivative."""

    name: str
    forward: Forward
    backward: Backward
    description: str = ""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

_erf_object = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, element-wise, exact to double precision (math.erf), in x's dtype."""
    x = np.asarray(x)
    return _erf_object(x.astype(np.float64)).astype(x.dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1/(1 + e⁻ˣ) without overflow: e^−|x| never exceeds 1."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + eˣ) = max(x, 0) + log1p(e^−|x|), stable for any x."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (the max is subtracted first, so exp never overflows)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Vector-Jacobian product of softmax: J = diag(y) − y yᵀ, so dx = y ⊙ (dy − ⟨dy, y⟩)."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


# ---------------------------------------------------------------------------
# The activations (one factory each: IR table -> Activation)
# ---------------------------------------------------------------------------

def _linear(spec: Mapping[str, Any]) -> Activation:
    return Activation("linear", lambda x: x, lambda x, y, dy: dy)


def _relu(spec):
    return Activation("relu", lambda x: np.maximum(x, 0.0), lambda x, y, dy: dy * (x > 0))


def _relu6(spec):
    return Activation("relu6", lambda x: np.clip(x, 0.0, 6.0), lambda x, y, dy: dy * ((x > 0) & (x < 6)))


def _leaky_relu(spec):
    s = float(spec["negative_slope"])
    return Activation(
        "leaky_relu",
        lambda x: np.where(x > 0, x, x * s),
        lambda x, y, dy: np.where(x > 0, dy, dy * s),
        f"negative_slope={s}",
    )


def _elu(spec):
    a = float(spec["alpha"])
    return Activation(
        "elu",
        lambda x: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0))),
        lambda x, y, dy: np.where(x > 0, dy, dy * a * np.exp(np.minimum(x, 0.0))),
        f"alpha={a}",
    )


def _selu(spec):
    la, l = SELU_SCALE * SELU_ALPHA, SELU_SCALE
    return Activation(
        "selu",
        lambda x: np.where(x < 0, la * np.expm1(np.minimum(x, 0.0)), l * x),
        lambda x, y, dy: np.where(x < 0, dy * la * np.exp(np.minimum(x, 0.0)), dy * l),
    )


def _gelu(spec):
    if spec["approximate"]:
        def forward(x):
            return 0.5 * x * (1.0 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3)))

        def backward(x, y, dy):
            t = np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            du = SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
            return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)

        return Activation("gelu", forward, backward, "approximate=tanh")

    def forward_exact(x):
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))

    def backward_exact(x, y, dy):
        cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
        pdf = INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return dy * (cdf + x * pdf)

    return Activation("gelu", forward_exact, backward_exact, "approximate=none")


def _sigmoid(spec):
    return Activation("sigmoid", sigmoid, lambda x, y, dy: dy * y * (1.0 - y))


def _hard_sigmoid(spec):
    return Activation(
        "hard_sigmoid",
        lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        lambda x, y, dy: dy * ((x > -3) & (x < 3)) / 6.0,
    )


def _tanh(spec):
    return Activation("tanh", np.tanh, lambda x, y, dy: dy * (1.0 - y * y))


def _softmax(spec):
    return Activation("softmax", softmax, lambda x, y, dy: softmax_backward(y, dy), "axis=-1")


def _softplus(spec):
    return Activation("softplus", softplus, lambda x, y, dy: dy * sigmoid(x))


def _softsign(spec):
    def backward(x, y, dy):
        d = 1.0 + np.abs(x)
        return dy / (d * d)

    return Activation("softsign", lambda x: x / (1.0 + np.abs(x)), backward)


def _swish(spec):
    def backward(x, y, dy):
        s = sigmoid(x)
        return dy * s * (1.0 + x * (1.0 - s))

    return Activation(spec["type"], lambda x: x * sigmoid(x), backward)


def _mish(spec):
    def backward(x, y, dy):
        t = np.tanh(softplus(x))
        return dy * (t + x * sigmoid(x) * (1.0 - t * t))

    return Activation("mish", lambda x: x * np.tanh(softplus(x)), backward)


ACTIVATIONS: dict[str, Callable[[Mapping[str, Any]], Activation]] = {
    "linear": _linear,
    "relu": _relu,
    "relu6": _relu6,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "tanh": _tanh,
    "softmax": _softmax,
    "softplus": _softplus,
    "softsign": _softsign,
    "swish": _swish,
    "silu": _swish,
    "mish": _mish,
}
"""Activation type → factory taking the IR activation as a dict (every parameter explicit)."""


def make_activation(act: Any) -> Activation:
    """The :class:`Activation` of an IR activation such as ``EluIR(type="elu", alpha=1.0)``, or of the same as a
    dict (checked to carry every parameter).  This backend reads the parameters as a plain dict."""
    if isinstance(act, Mapping):
        from dnnc.compiler.ir_types import activation_ir

        act = activation_ir(act)
    spec = act.model_dump()
    if spec["type"] not in ACTIVATIONS:
        raise ValueError(f"unknown activation {spec['type']!r}; the numpy backend knows {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[spec["type"]](spec)
