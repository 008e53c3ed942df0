"""dnnc's losses and their gradients with respect to the model output, written out.

A model emits its raw output; the IR's ``head`` says which activation the
compiler removed from the output layer ("softmax", "sigmoid", or "linear" when
nothing was removed).  How a loss reads the output (dnnc's rule):

* a cross-entropy whose head is its own activation (softmax for the
  categorical ones, sigmoid for binary), or a linear head with
  ``from_logits = true``, works on **logits** (exact log-sum-exp forms);
* a cross-entropy after a linear head without ``from_logits`` works on
  **probabilities**, clipped to [1e-7, 1 − 1e-7] (the clip passes no gradient
  outside that range);
* mse, mae and huber compare the targets with ``head(output)``.

Per-sample losses are reduced as Σ(sample_weight·ℓ) / (number of per-sample
values) — divided by the batch size N, not by Σ weights — so
∂L/∂ℓᵢ = wᵢ/N.  With logits z, softmax p and (smoothed) targets y:

=================================  ===============================  ==============================
loss                               ℓ (per sample)                   ∂ℓ/∂z (per sample)
=================================  ===============================  ==============================
sparse CE (logits)                 logsumexp(z) − z_y               p − onehot(y)
categorical CE (logits)            −Σ y·(z − logsumexp(z))          p·Σy − y
binary CE (logits)                 mean(max(z,0) − z·y + log1p(e^−|z|))  (σ(z) − y)/k
mse / mae / huber (e = ŷ − y)      mean(e²) / mean|e| / mean(huber)  2e/k / sign(e)/k / clip(e, ±δ)/k
=================================  ===============================  ==============================

(k = number of values averaged over the last axis.)  Computations run in the
output's dtype (float32); the reported scalar is summed in float64.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .activations import sigmoid, softmax, softmax_backward

REGRESSION_LOSSES = ("mse", "mae", "huber")
CROSSENTROPY_HEAD = {
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
}
HEADS = ("linear", "softmax", "sigmoid")
LOSSES = REGRESSION_LOSSES + tuple(CROSSENTROPY_HEAD)
"""Every loss type this backend implements."""

EPSILON = 1e-7
PROB_MIN = float(np.float32(EPSILON))
PROB_MAX = float(np.float32(1.0) - np.float32(EPSILON))


def input_kind(loss_ir: Mapping[str, Any], head: str) -> str:
    """How the loss reads the output: "logits", "probabilities" or "predictions" (regression on head(output))."""
    kind = loss_ir.get("type")
    if head not in HEADS:
        raise ValueError(f"unknown output head {head!r}; allowed: {', '.join(HEADS)}")
    if kind in REGRESSION_LOSSES:
        return "predictions"
    if kind not in CROSSENTROPY_HEAD:
        raise ValueError(f"unknown loss type {kind!r}; the numpy backend knows {', '.join(LOSSES)}")
    natural = CROSSENTROPY_HEAD[kind]
    if head == natural:
        return "logits"
    if head == "linear":
        return "logits" if loss_ir.get("from_logits") else "probabilities"
    raise ValueError(f"{kind} needs an output layer ending in {natural} (or a linear one), "
                     f"but the output layer ends in {head}")


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _match_rank(target: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze-or-expand: (N,) targets against (N, 1) outputs become (N, 1), never (N, N)."""
    if target.ndim == pred.ndim + 1 and target.shape[-1] == 1:
        if pred.ndim == 1:
            pred = pred[..., None]
        else:
            target = target[..., 0]
    elif pred.ndim == target.ndim + 1 and pred.shape[-1] == 1:
        if target.ndim == 1:
            target = target[..., None]
        else:
            pred = pred[..., 0]
    if target.shape != pred.shape:
        raise ValueError(f"targets of shape {target.shape} do not match outputs of shape {pred.shape}")
    return target, pred


def _labels(target: np.ndarray, n_classes: int) -> np.ndarray:
    labels = np.asarray(target)
    if labels.ndim >= 2 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.mod(labels, 1) == 0):
        raise ValueError("sparse_categorical_crossentropy needs integer class labels")
    labels = labels.astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"class labels must lie in [0, {n_classes - 1}] (received {labels.min()}..{labels.max()})")
    return labels


def _clip(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clipped probabilities and the mask where the clip lets the gradient through."""
    return np.clip(p, PROB_MIN, PROB_MAX), (p >= PROB_MIN) & (p <= PROB_MAX)


def _head_forward(head: str, x: np.ndarray) -> np.ndarray:
    if head == "softmax":
        return softmax(x)
    if head == "sigmoid":
        return sigmoid(x)
    return x


def _head_backward(head: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    if head == "softmax":
        return softmax_backward(y, dy)
    if head == "sigmoid":
        return dy * y * (1.0 - y)
    return dy


def per_sample_loss(loss_ir: Mapping[str, Any], head: str, output: np.ndarray, target: np.ndarray,
                    need_grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(ℓ, ∂ℓ/∂output): ℓ has one value per sample (shape output.shape[:-1]); the gradient has the output's shape."""
    kind = loss_ir["type"]
    mode = input_kind(loss_ir, head)
    dtype = output.dtype
    if output.ndim < 2:
        raise ValueError(f"model outputs must have a batch and a feature axis (received shape {output.shape})")

    if mode == "predictions":
        p = _head_forward(head, output)
        y, pr = _match_rank(np.asarray(target, dtype=dtype), p)
        e = pr - y
        k = e.shape[-1]
        if kind == "mse":
            loss, de = (e * e).mean(axis=-1), (2.0 / k) * e
        elif kind == "mae":
            loss, de = np.abs(e).mean(axis=-1), np.sign(e) / k
        else:  # huber
            d = float(loss_ir["delta"])
            a = np.abs(e)
            quadratic = a <= d
            loss = np.where(quadratic, 0.5 * e * e, d * a - 0.5 * d * d).mean(axis=-1)
            de = np.where(quadratic, e, d * np.sign(e)) / k
        grad = _head_backward(head, p, de.reshape(p.shape)) if need_grad else None
        return loss, grad

    if kind == "sparse_categorical_crossentropy":
        labels = _labels(target, output.shape[-1])
        if mode == "logits":
            z, inside = output, None
        else:
            pc, inside = _clip(output)
            z = np.log(pc)
        picked = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
        loss = _logsumexp(z) - picked
        grad = None
        if need_grad:
            dz = softmax(z)
            np.put_along_axis(dz, labels[..., None], np.take_along_axis(dz, labels[..., None], axis=-1) - 1.0, axis=-1)
            grad = dz if inside is None else dz / pc * inside  # z = log p  ⇒  ∂p = ∂z / p
        return loss, grad

    y = np.asarray(target, dtype=dtype)
    ls = float(loss_ir.get("label_smoothing", 0.0))
    if kind == "binary_crossentropy":
        y, z = _match_rank(y, output)
        if ls:
            y = y * (1.0 - ls) + 0.5 * ls
        k = z.shape[-1]
        if mode == "logits":
            loss = (np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)
            dz = (sigmoid(z) - y) / k if need_grad else None
        else:
            p, inside = _clip(z)
            loss = (-(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))).mean(axis=-1)
            dz = ((1.0 - y) / (1.0 - p) - y / p) * inside / k if need_grad else None
        return loss, (None if dz is None else dz.reshape(output.shape))

    # categorical_crossentropy
    if y.shape != output.shape:
        raise ValueError(f"one-hot targets of shape {y.shape} do not match outputs of shape {output.shape}")
    if ls:
        y = y * (1.0 - ls) + ls / output.shape[-1]
    if mode == "logits":
        z = output
        log_p = z - _logsumexp(z)[..., None]
        loss = -(y * log_p).sum(axis=-1)
        grad = softmax(z) * y.sum(axis=-1, keepdims=True) - y if need_grad else None
        return loss, grad
    s = output.sum(axis=-1, keepdims=True)
    q = output / s
    qc, inside = _clip(q)
    loss = -(y * np.log(qc)).sum(axis=-1)
    grad = None
    if need_grad:
        dq = -y / qc * inside
        grad = (dq - (dq * q).sum(axis=-1, keepdims=True)) / s  # q = p/Σp
    return loss, grad


def reduced_loss(loss_ir: Mapping[str, Any], head: str, output: np.ndarray, target: np.ndarray,
                 sample_weight: np.ndarray | None = None, need_grad: bool = True) -> tuple[float, np.ndarray | None]:
    """(L, ∂L/∂output) with L = Σ(sample_weight·ℓ) / ℓ.size."""
    loss, grad = per_sample_loss(loss_ir, head, output, target, need_grad)
    n = loss.size
    if n == 0:
        return 0.0, (np.zeros_like(output) if need_grad else None)
    if sample_weight is None:
        value = float(loss.sum(dtype=np.float64)) / n
        if grad is not None:
            grad = grad * output.dtype.type(1.0 / n)
        return value, grad
    w = np.asarray(sample_weight, dtype=output.dtype).reshape(-1)
    if w.shape[0] != loss.shape[0]:
        raise ValueError(f"{w.shape[0]} sample weights for a batch of {loss.shape[0]} samples")
    w = w.reshape((-1,) + (1,) * (loss.ndim - 1))
    value = float((w * loss).sum(dtype=np.float64)) / n
    if grad is not None:
        grad = grad * (w[..., None] / output.dtype.type(n))
    return value, grad
