"""Backend against backend: how far two float32 runs of one model are apart, array by array.

Not a conformance criterion — the numeric level judges every backend against
the float64 oracle (:mod:`.measures`).  These measures describe the distance
between two backends' values where there is no oracle value to judge by:
strict parity's weights after whole epochs (:mod:`.parity`) and the
per-layer probes of ``dnnc inspect`` (:mod:`dnnc.inspection.agreement`).

* arrays: ``max|Δ| / max(floor, max|a|, max|b|)`` (the worst element named);
* losses: ``|Δ| / max(|ref|, 1e-6)``.

NaN against NaN counts as equal, NaN against a number as infinitely far.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .measures import index_text
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


def _diff(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    both, either = np.isnan(x) & np.isnan(y), np.isnan(x) | np.isnan(y)
    with np.errstate(invalid="ignore"):
        d = np.abs(x - y)
    return np.where(both, 0.0, np.where(either, np.inf, d))


def scaled_error(a: Any, b: Any, floor: float = 1.0) -> tuple[float, int]:
    """``max|a − b| / max(floor, max|a|, max|b|)`` and the flat index of the largest difference."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0:
        return 0.0, 0
    d = _diff(x, y)
    flat = int(np.argmax(d))
    scale = max(floor, float(np.nan_to_num(np.abs(x)).max()), float(np.nan_to_num(np.abs(y)).max()))
    return float(d.reshape(-1)[flat]) / scale, flat


def loss_error(a: float, b: float) -> float:
    """``|a − b| / max(|b|, 1e-6)``."""
    a, b = float(a), float(b)
    if np.isnan(a) and np.isnan(b):
        return 0.0
    if np.isnan(a) or np.isnan(b):
        return float("inf")
    return 0.0 if a == b else abs(a - b) / max(abs(b), LOSS_FLOOR)


def compare_array(level: str, name: str, backend: str, reference: str, target: str, value: Any, expected: Any, *,
                  rtol: float, floor: float, norm: str) -> Check:
    """A Check of two arrays with ``max|Δ| / max(floor, max|a|, max|b|) ≤ rtol``, naming the worst element."""
    x, y = np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if x.shape != y.shape:
        return Check(level, name, backend, reference, FAIL, target, list(x.shape), list(y.shape),
                     detail=f"shapes differ: {backend} {tuple(x.shape)}, {reference} {tuple(y.shape)}")
    err, flat = scaled_error(x, y, floor)
    a_val = float(x.reshape(-1)[flat]) if x.size else None
    b_val = float(y.reshape(-1)[flat]) if y.size else None
    return Check(level, name, backend, reference, PASS if err <= rtol else FAIL, target + index_text(x.shape, flat),
                 a_val, b_val, err, rtol, norm)


def compare_loss(level: str, name: str, backend: str, reference: str, target: str, value: float, expected: float,
                 *, rtol: float = LOSS_RTOL) -> Check:
    err = loss_error(value, expected)
    return Check(level, name, backend, reference, PASS if err <= rtol else FAIL, target, float(value),
                 float(expected), err, rtol, LOSS)
