"""NumPy reference of every dnnc loss (the test oracle), and the rules all backends share.

A loss receives the model's raw `output`, the `head` (the activation that the
compiler removed from the output layer: "softmax", "sigmoid" or "linear" when
nothing was removed), the targets and optional sample weights.

* Cross-entropies use the **logits** whenever the head is the loss's own
  activation (softmax for the categorical ones, sigmoid for binary), or when
  the head is linear and the loss says ``from_logits = true``: exact and finite
  for any logits (log-sum-exp).  A linear head without ``from_logits`` means the
  outputs are probabilities: they are clipped to [1e-7, 1 − 1e-7] (float32), as
  Keras does.  A head of the *other* activation is an error.
* Regression losses (mse, mae, huber) compare the targets with head(output).
* Reduction (Keras's ``sum_over_batch_size``): Σ(sample_weight · ℓ) / number
  of per-sample values, i.e. / N for (N, units) outputs — never / Σ weights.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .heads import HEADS, apply_head

REGRESSION_LOSSES = ("mse", "mae", "huber")
CROSSENTROPY_HEAD = {
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
}
EPSILON = 1e-7
"""Probability clipping bound of the probability-space cross-entropies (Keras's `epsilon()`)."""
PROB_MIN = float(np.float32(EPSILON))
PROB_MAX = float(np.float32(1.0) - np.float32(EPSILON))


def loss_input_kind(loss_ir: Mapping[str, Any], head: str) -> str:
    """How a loss reads the model output: "logits", "probabilities" or "predictions" (regression on head(output)).

    Raises ValueError for a cross-entropy whose head is the other activation
    (e.g. categorical_crossentropy after a sigmoid); the compiler should call
    this once to report the problem as a spec error.
    """
    kind = loss_ir.get("type")
    if head not in HEADS:
        raise ValueError(f"unknown output head {head!r}; allowed: {', '.join(HEADS)}")
    if kind in REGRESSION_LOSSES:
        return "predictions"
    if kind not in CROSSENTROPY_HEAD:
        known = ", ".join(REGRESSION_LOSSES + tuple(CROSSENTROPY_HEAD))
        raise ValueError(f"unknown loss type {kind!r}; known: {known}")
    natural = CROSSENTROPY_HEAD[kind]
    if head == natural:
        return "logits"
    if head == "linear":
        return "logits" if loss_ir.get("from_logits") else "probabilities"
    raise ValueError(
        f"{kind} needs an output layer ending in {natural} (or a linear one), "
        f"but the output layer ends in {head}"
    )


def match_rank(target: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze-or-expand: (N,) targets against (N, 1) predictions become (N, 1), never (N, N)."""
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


def sparse_labels(target: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels of shape (N,) or (N, 1) as an int64 (N,) array, range-checked."""
    labels = np.asarray(target)
    if labels.ndim >= 2 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError("sparse_categorical_crossentropy needs integer class labels")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"class labels must lie in [0, {n_classes - 1}] (received {labels.min()}..{labels.max()})")
    return labels


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _clip_probabilities(p: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(p, dtype=np.float32), np.float32(PROB_MIN), np.float32(PROB_MAX)).astype(np.float64)


def per_sample_loss(loss_ir: Mapping[str, Any], head: str, output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The unreduced loss: shape (N,) for (N, units) outputs (one value per sample, float64)."""
    kind = loss_ir["type"]
    mode = loss_input_kind(loss_ir, head)
    output = np.asarray(output)
    if output.ndim < 2:
        raise ValueError(f"model outputs must have a batch and a feature axis (received shape {output.shape})")

    if mode == "predictions":
        y, p = match_rank(np.asarray(target, dtype=np.float64), apply_head(head, output))
        e = p - y
        if kind == "mse":
            return np.mean(e * e, axis=-1)
        if kind == "mae":
            return np.mean(np.abs(e), axis=-1)
        d = loss_ir["delta"]
        a = np.abs(e)
        return np.mean(np.where(a <= d, 0.5 * e * e, d * a - 0.5 * d * d), axis=-1)

    if kind == "sparse_categorical_crossentropy":
        labels = sparse_labels(target, output.shape[-1])
        if mode == "logits":
            z = output.astype(np.float64)
        else:
            z = np.log(_clip_probabilities(output))
        picked = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
        return _logsumexp(z) - picked

    y = np.asarray(target, dtype=np.float64)
    ls = loss_ir.get("label_smoothing", 0.0)
    if kind == "binary_crossentropy":
        y, z = match_rank(y, output.astype(np.float64))
        if ls:
            y = y * (1.0 - ls) + 0.5 * ls
        if mode == "logits":
            elementwise = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            p = _clip_probabilities(output.reshape(z.shape))
            elementwise = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
        return np.mean(elementwise, axis=-1)

    # categorical_crossentropy
    if y.shape != output.shape:
        raise ValueError(f"one-hot targets of shape {y.shape} do not match outputs of shape {output.shape}")
    if ls:
        y = y * (1.0 - ls) + ls / output.shape[-1]
    if mode == "logits":
        z = output.astype(np.float64)
        log_p = z - _logsumexp(z)[..., None]
    else:
        p32 = np.asarray(output, dtype=np.float32)
        log_p = np.log(_clip_probabilities(p32 / p32.sum(axis=-1, keepdims=True)))
    return -np.sum(y * log_p, axis=-1)


def reduce_loss(per_sample: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Σ(sample_weight · ℓ) / ℓ.size: the batch mean with weights, divided by the batch size, not by Σ weights."""
    values = np.asarray(per_sample, dtype=np.float64)
    if values.size == 0:
        return 0.0
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.shape[0] != values.shape[0]:
            raise ValueError(f"{w.shape[0]} sample weights for a batch of {values.shape[0]} samples")
        values = values * w.reshape((-1,) + (1,) * (values.ndim - 1))
    return float(values.sum() / values.size)


def loss_value(
    loss_ir: Mapping[str, Any],
    head: str,
    output: np.ndarray,
    target: np.ndarray,
    sample_weight: np.ndarray | None = None,
) -> float:
    """The reduced batch loss (float)."""
    return reduce_loss(per_sample_loss(loss_ir, head, output, target), sample_weight)
