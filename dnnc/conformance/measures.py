"""How the numeric level judges one quantity of one backend: against the float64 oracle, per element.

For every element of every compared array (Δ = backend − oracle value, B the
float32 error bound of that element, :mod:`dnnc.reference.arith`)::

    |Δ| ≤ factor · B + 1e-30            (factor: ConformOptions.numeric_factor, default 1)

A Check reports its worst element: ``error = |Δ| / B`` (the deviation in
units of the element's own float32 bound), ``tolerance = factor``.  The tiny
absolute floor only absorbs float32 underflow (denormals flushed to zero).
A NaN where the oracle has a number (or the reverse) fails; a NaN where the
oracle's bound is infinite (an overflowing formula) passes, as any value does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..reference.arith import Bounded
from .results import FAIL, PASS, Check

REFERENCE = "oracle"
NORM = "|Δ|/B"
FLOOR = 1e-30
DEFAULT_FACTOR = 1.0


def index_text(shape: tuple[int, ...], flat: int) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


def ratios(value: Any, want: Bounded, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(|Δ|, B, |Δ| / (factor·B + floor)) per element (NaN against a number: infinite)."""
    x = np.asarray(value, dtype=np.float64)
    v, b = want.v, want.bound
    both, either = np.isnan(x) & np.isnan(v), np.isnan(x) | np.isnan(v)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(both, 0.0, np.where(either, np.inf, np.abs(x - v)))
        allowance = factor * b + FLOOR
        r = np.where((d == 0) | np.isinf(allowance), 0.0, d / allowance)
    return d, b, r


def judge(level: str, name: str, backend: str, target: str, value: Any, want: Bounded, *, factor: float,
          step: int | None = None, batch: int | None = None, detail: str = "") -> Check:
    """One Check of an array (or a scalar) against the oracle, naming the worst element."""
    x = np.asarray(value, dtype=np.float64)
    if x.shape != want.shape:
        return Check(level, name, backend, REFERENCE, FAIL, target, list(x.shape), list(want.shape),
                     detail=f"shapes differ: {backend} {tuple(x.shape)}, oracle {tuple(want.shape)}",
                     step=step, batch=batch)
    if x.size == 0:
        return Check(level, name, backend, REFERENCE, PASS, target, error=0.0, tolerance=factor, norm=NORM,
                     step=step, batch=batch, detail=detail)
    d, b, r = ratios(x, want, factor)
    flat = int(np.argmax(r))
    worst_d, worst_b = float(d.reshape(-1)[flat]), float(b.reshape(-1)[flat])
    error = float(r.reshape(-1)[flat]) * factor
    text = f"|Δ| {worst_d:.3g}, float32 bound B {worst_b:.3g}"
    return Check(level, name, backend, REFERENCE, PASS if error <= factor else FAIL,
                 target + index_text(x.shape, flat), float(x.reshape(-1)[flat]), float(want.v.reshape(-1)[flat]),
                 error, factor, NORM, f"{text}; {detail}" if detail else text, step, batch)


def judge_missing(level: str, name: str, backend: str, target: str, *, step: int | None = None,
                  batch: int | None = None) -> Check:
    return Check(level, name, backend, REFERENCE, FAIL, target, step=step, batch=batch,
                 detail=f"{backend} gives no value for it")
