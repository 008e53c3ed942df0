"""Every dnnc loss and its gradient with respect to the model output, and the weight penalties.

The definitions are :mod:`dnnc.numerics.losses` (the documented formulas;
``tests/numerics`` pins them): how a loss reads the output
(:func:`~dnnc.numerics.losses.loss_input_kind`: logits, probabilities or
predictions through the head), Keras's rank matching and label checks, the
probability clipping bounds, label smoothing and the reduction
``Σ(sample_weight · ℓ) / ℓ.size``.  This module writes the same formulas with
:mod:`dnnc.reference.arith` so that they run in every mode (bounded included)
and adds each one's derivative; ``tests/reference`` checks that the values
equal :func:`dnnc.numerics.losses.loss_value` and that the gradients match
finite differences.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..numerics.losses import PROB_MAX, PROB_MIN, loss_input_kind, match_rank, sparse_labels
from . import arith as A
from .activations import _sigmoid, softmax_backward


def _exact(x: Any, mode: str) -> A.Value:
    """A derived array that is exact math (one-hot labels, 1/N weights): float64 or float32, never bounded."""
    x = np.asarray(x, dtype=np.float64)
    return x.astype(np.float32) if mode == "float32" else x


def _smoothed(y: np.ndarray, ls: float, classes: float, mode: str) -> A.Value:
    """y·(1 − ls) + ls/classes, computed as a backend does (its rounding is part of the bound)."""
    if not ls:
        return A.array(y, mode)
    return A.array(y, mode) * (1.0 - A.const(ls, mode)) + A.const(ls, mode) / classes


def _logsumexp(z: A.Value) -> tuple[A.Value, A.Value]:
    """(log Σ exp z over the last axis, softmax(z)): the max is an exact shift."""
    m = A.max_value(z)
    e = A.exp(z - m)
    s = A.sum_(e, axis=-1, keepdims=True)
    return (A.log(s) + m)[..., 0], e / s


def _clip(p: A.Value) -> tuple[A.Value, A.Value]:
    """(clip(p, PROB_MIN, PROB_MAX), its derivative 0/1): a probability near a bound is judged both ways."""
    inside = A.both(A.greater(p, PROB_MIN), A.less(p, PROB_MAX))
    low = A.full_like(p, PROB_MIN)
    clipped = A.select(A.greater(p, PROB_MIN), A.select(A.less(p, PROB_MAX), p, A.full_like(p, PROB_MAX)), low)
    return clipped, A.select(inside, A.full_like(p, 1.0), A.zeros_like(p))


def _head(head: str, output: A.Value) -> A.Value:
    if head == "softmax":
        return _logsumexp(output)[1]
    if head == "sigmoid":
        return _sigmoid(output)
    return output


def _head_backward(head: str, y: A.Value, dy: A.Value) -> A.Value:
    if head == "softmax":
        return softmax_backward(y, dy)
    if head == "sigmoid":
        return dy * (y * (1.0 - y))
    return dy


def _sign(x: A.Value) -> A.Value:
    zero = A.zeros_like(x)
    return A.select(A.greater(x, 0.0), A.full_like(x, 1.0), A.select(A.less(x, 0.0), A.full_like(x, -1.0), zero))


def per_sample(loss_ir: Mapping[str, Any], head: str, output: A.Value, target: Any, mode: str
               ) -> tuple[A.Value, A.Value]:
    """(ℓ, ∂ℓ/∂output): the unreduced loss, one value per sample (shape (N,) for (N, units) outputs), and
    its vector-Jacobian with a unit upstream gradient, i.e. ∂(Σℓ)/∂output per sample."""
    kind = loss_ir["type"]
    how = loss_input_kind(loss_ir, head)
    shape = A.value(output).shape
    if len(shape) < 2:
        raise ValueError(f"model outputs must have a batch and a feature axis (received shape {shape})")

    if how == "predictions":
        y_np, p_np = match_rank(np.asarray(target, dtype=np.float64), np.zeros(shape))
        p = _head(head, output).reshape(p_np.shape)
        y = A.array(y_np, mode)
        e = p - y
        k = p_np.shape[-1]
        if kind == "mse":
            ell, de = A.mean(A.square(e), axis=-1), 2.0 * e
        elif kind == "mae":
            ell, de = A.mean(A.absolute(e), axis=-1), _sign(e)
        else:  # huber
            d = A.const(loss_ir["delta"], mode)
            a = A.absolute(e)
            small = A.less_equal(a, d)
            ell = A.mean(A.select(small, 0.5 * A.square(e), d * a - 0.5 * A.square(d)), axis=-1)
            de = A.select(small, e, d * _sign(e))
        dp = (de / float(k)).reshape(shape)
        return ell, _head_backward(head, _head(head, output), dp)

    if kind == "sparse_categorical_crossentropy":
        labels = sparse_labels(target, shape[-1])[..., None]
        onehot = np.zeros(shape)
        np.put_along_axis(onehot, labels, 1.0, axis=-1)
        if how == "logits":
            lse, p = _logsumexp(output)
            return lse - A.take(output, labels)[..., 0], p - _exact(onehot, mode)
        c, dc = _clip(output)
        s = A.sum_(c, axis=-1, keepdims=True)
        ell = A.log(s)[..., 0] - A.log(A.take(c, labels))[..., 0]
        return ell, dc * (1.0 / s - _exact(onehot, mode) / c)

    ls = float(loss_ir.get("label_smoothing", 0.0))
    y_np = np.asarray(target, dtype=np.float64)
    if kind == "binary_crossentropy":
        y_np, _ = match_rank(y_np, np.zeros(shape))
        y = _smoothed(y_np, ls, 2.0, mode)
        k = y_np.shape[-1]
        z = output.reshape(y_np.shape)
        if how == "logits":
            relu = A.select(A.greater(z, 0.0), z, A.zeros_like(z))
            elementwise = relu - z * y + A.log1p(A.exp(-A.absolute(z)))
            dz = _sigmoid(z) - y
        else:
            p, dp = _clip(z)
            elementwise = -(y * A.log(p) + (1.0 - y) * A.log(1.0 - p))
            dz = dp * ((1.0 - y) / (1.0 - p) - y / p)
        return A.mean(elementwise, axis=-1), (dz / float(k)).reshape(shape)

    # categorical_crossentropy
    if y_np.shape != shape:
        raise ValueError(f"one-hot targets of shape {y_np.shape} do not match outputs of shape {shape}")
    y = _smoothed(y_np, ls, float(shape[-1]), mode)
    if how == "logits":
        lse, p = _logsumexp(output)
        log_p = output - lse[..., None]
        return -A.sum_(log_p * y, axis=-1), p * A.sum_(y, axis=-1, keepdims=True) - y
    s = A.sum_(output, axis=-1, keepdims=True)
    q, dq = _clip(output / s)
    ell = -A.sum_(A.log(q) * y, axis=-1)
    g = dq * (-y / q)  # ∂ℓ/∂q
    # q = p/s: ∂ℓ/∂p_j = (g_j − Σ_k g_k·q_k)/s
    return ell, (g - A.sum_(g * (output / s), axis=-1, keepdims=True)) / s


def reduced(loss_ir: Mapping[str, Any], head: str, output: A.Value, target: Any, sample_weight: Any, mode: str
            ) -> tuple[A.Value, A.Value]:
    """(L, ∂L/∂output) with ``L = Σ(sample_weight · ℓ) / ℓ.size``."""
    ell, dell = per_sample(loss_ir, head, output, target, mode)
    size = int(np.prod(A.value(ell).shape, dtype=np.int64))
    if size == 0:
        return A.const(0.0, mode), A.zeros_like(output)
    if sample_weight is None:
        w = np.ones(A.value(ell).shape[:1])
    else:
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.shape[0] != A.value(ell).shape[0]:
            raise ValueError(f"{w.shape[0]} sample weights for a batch of {A.value(ell).shape[0]} samples")
    weighted = ell if sample_weight is None else ell * A.array(w.reshape((-1,) + (1,) * (A.value(ell).ndim - 1)), mode)
    total = A.sum_(weighted) / float(size)
    scale = (w / size).reshape((-1,) + (1,) * (len(A.value(output).shape) - 1))
    return total, dell * _exact(scale, mode)


def penalty(regularizer: Any, w: A.Value, mode: str) -> tuple[A.Value, A.Value]:
    """(l1·Σ|w| + l2·Σw², its gradient l1·sign(w) + 2·l2·w) for one parameter (sign(0) = 0)."""
    value, grad = A.const(0.0, mode), A.zeros_like(w)
    if regularizer.l1:
        l1 = A.const(regularizer.l1, mode)
        value = value + l1 * A.sum_(A.absolute(w))
        grad = grad + l1 * _sign(w)
    if regularizer.l2:
        l2 = A.const(regularizer.l2, mode)
        value = value + l2 * A.sum_(A.square(w))
        grad = grad + (2.0 * l2) * w
    return value, grad
