"""How the numeric level measures a difference between two backends (Δ = backend − reference).

Every measure is per array and symmetric in the two backends (``scale`` is
the larger of the two arrays' largest magnitudes):

==========================  ===================================================  ==========
quantity                    error                                                tolerance
==========================  ===================================================  ==========
outputs (inference and      ``max|Δ| / max(1, scale)``: absolute below 1,        1e-5
training mode), moving      relative to the array's largest value above (the
statistics, weights along   rounding error of a sum grows with its terms, not
the trajectory              with the element: a small logit among large ones
                            carries the large ones' error)
losses (one batch and       ``|Δ| / max(|ref|, 1e-6)``                           1e-5
every trajectory step)
gradients                   ``max|Δ| / max(scale, 1e-6)``: relative to the       1e-4
                            array's own scale (an element-wise relative error
                            is meaningless for entries that are zero up to
                            rounding)
==========================  ===================================================  ==========

**Cancelled biases** (:func:`cancelled_biases`): a dense layer's bias that
reaches only a batch norm through a linear activation is removed exactly by
the batch mean, so its true gradient is 0 and what a framework computes for it
is rounding noise.  Its gradient is measured against the scale of the same
layer's kernel gradient instead of its own, and its value along the
trajectory (that noise, integrated by the optimizer — Adam turns it into
steps of up to the learning rate) is not compared (a skipped check saying
why).  The batch norm's moving mean absorbs that bias through its batch
means, so along the trajectory it is compared without the bias's share:
``moving_mean − c`` with ``c_t = momentum·c_{t−1} + (1 − momentum)·bias_{t−1}``
(measured on ``mnist_bn_dropout``: 7.2e-6 raw, 3.2e-7 corrected, after 20 steps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..compiler.ir import ModelIR
from .results import FAIL, PASS, Check

OUTPUT_RTOL = 1e-5
LOSS_RTOL = 1e-5
GRADIENT_RTOL = 1e-4
LOSS_FLOOR = 1e-6
GRADIENT_FLOOR = 1e-6

SCALED = "max|Δ|/max(1, max|ref|)"
LOSS = "|Δ|/max(|ref|, 1e-6)"


def gradient_norm(floor: float = GRADIENT_FLOOR) -> str:
    return f"max|Δ|/max(max|ref|, {floor:.3g})"


def _as64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _diff(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|x − y| with NaN where both are NaN treated as equal and NaN against a number as infinite."""
    both, either = np.isnan(x) & np.isnan(y), np.isnan(x) | np.isnan(y)
    with np.errstate(invalid="ignore"):
        d = np.abs(x - y)
    return np.where(both, 0.0, np.where(either, np.inf, d))


def scaled_error(a: Any, b: Any, floor: float = 1.0) -> tuple[float, int]:
    """``max|a − b| / max(floor, max|a|, max|b|)`` and the flat index of the largest difference."""
    x, y = _as64(a), _as64(b)
    if x.size == 0:
        return 0.0, 0
    d = _diff(x, y)
    flat = int(np.argmax(d))
    scale = max(floor, float(np.nan_to_num(np.abs(x)).max()), float(np.nan_to_num(np.abs(y)).max()))
    return float(d.reshape(-1)[flat]) / scale, flat


def loss_error(a: float, b: float) -> float:
    """``|a − b| / max(|b|, 1e-6)`` (NaN against a number: infinite; NaN against NaN: 0)."""
    a, b = float(a), float(b)
    if np.isnan(a) and np.isnan(b):
        return 0.0
    if np.isnan(a) or np.isnan(b):
        return float("inf")
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), LOSS_FLOOR)


def index_text(shape: tuple[int, ...], flat: int) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


def compare_array(level: str, name: str, backend: str, reference: str, target: str, value: Any, expected: Any, *,
                  rtol: float, floor: float, norm: str, step: int | None = None, batch: int | None = None,
                  detail: str = "") -> Check:
    """A Check of two arrays with ``max|Δ| / max(floor, max|a|, max|b|) ≤ rtol``, naming the worst element."""
    x, y = _as64(value), _as64(expected)
    if x.shape != y.shape:
        return Check(level, name, backend, reference, FAIL, target, list(x.shape), list(y.shape),
                     detail=f"shapes differ: {backend} {tuple(x.shape)}, {reference} {tuple(y.shape)}",
                     step=step, batch=batch)
    err, flat = scaled_error(x, y, floor)
    where = target + index_text(x.shape, flat)
    a_val = float(x.reshape(-1)[flat]) if x.size else None
    b_val = float(y.reshape(-1)[flat]) if y.size else None
    return Check(level, name, backend, reference, PASS if err <= rtol else FAIL, where, a_val, b_val, err, rtol,
                 norm, detail, step, batch)


def compare_loss(level: str, name: str, backend: str, reference: str, target: str, value: float, expected: float,
                 *, rtol: float = LOSS_RTOL, step: int | None = None, batch: int | None = None) -> Check:
    err = loss_error(value, expected)
    return Check(level, name, backend, reference, PASS if err <= rtol else FAIL, target, float(value),
                 float(expected), err, rtol, LOSS, step=step, batch=batch)


def cancelled_biases(ir: ModelIR) -> dict[str, str]:
    """Canonical bias keys whose true gradient is 0 → the batch-norm node that cancels them.

    A dense layer's bias qualifies when it has no regularizer, its layer's
    activation is linear, the layer is not a model output and its only
    consumer is a batch norm over the last axis (whose batch mean removes any
    per-channel constant exactly).
    """
    consumers: dict[str, list[str]] = {n.name: [] for n in ir.nodes}
    for n in ir.nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n.name)
    outputs = {o.name for o in ir.outputs}
    out = {}
    for n in ir.nodes:
        if n.op != "dense" or n.name in outputs:
            continue
        if n.attrs.activation.type != "linear":
            continue
        bias = next((p for p in n.params if p.name == "bias"), None)
        if bias is None or (bias.regularizer is not None and bias.regularizer.active):
            continue
        users = consumers.get(n.name, [])
        if len(users) == 1:
            bn = ir.node(users[0])
            if bn.op == "batch_norm" and bn.attrs.axis == -1:
                out[f"{n.name}/bias"] = bn.name
    return out
