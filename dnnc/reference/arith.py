"""The arithmetic of the reference: plain NumPy arrays, or float64 values carrying a float32 error bound.

Every formula of :mod:`dnnc.reference` is written once with the functions of
this module and runs in three modes:

* **float64** and **float32**: plain NumPy arrays of that dtype; the functions
  are NumPy's (the reference is then an ordinary NumPy implementation);
* **bounded**: :class:`Bounded` values — the float64 result ``v`` and ``e``, a
  bound on how far *any* float32 evaluation of the same formula can land from
  ``v`` (first-order running error analysis, Wilkinson's method, computed
  alongside the value in float64).

The float32 error bound
-----------------------
``u = 2⁻²⁴`` is float32's unit roundoff.  Inputs, weights, masks and targets
are float32 numbers, exact (``e = 0``); a hyperparameter enters as
:func:`const`, whose ``e`` is its float32 representation error
``|fl32(c) − c|``.  Each operation propagates the bounds of its operands
through its exact derivative and adds its own rounding:

==============================  ==========================================================================
operation                       bound of the result
==============================  ==========================================================================
``a ± b``                       ``e_a + e_b + u·|v|``
``a·b``                         ``|a|·e_b + |b|·e_a + e_a·e_b + u·|v|``
``a / b``                       ``(e_a + |v|·e_b) / (|b| − e_b) + u·|v|`` (∞ when ``|b| ≤ e_b``)
``Σᵢ aᵢ`` over an axis          ``√(Σ e_i²) + γ(n)·Σ|aᵢ|``
``a @ b`` (contraction of n)    ``√(a²@e_b² + e_a²@b² + e_a²@e_b²) + γ(n)·(|a|@|b|)``
monotone ``f`` (exp, log, …)    ``max|f(a ± e_a) − f(a)| + k_f·u·|v|`` (``k_f``: :data:`ULPS`)
``max``, selections, kinks      see :func:`select` and :func:`max_reduce`
==============================  ==========================================================================

``γ(n) = min(n, λ√n)·u`` (λ = 8, n counting the terms that can be nonzero:
adding an exact zero is exact) bounds a sum's own rounding: the deterministic
worst case ``n·u`` of recursive summation for short sums and, for long ones,
the probabilistic bound of Higham & Mary ("A new approach to probabilistic
rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019), which holds with
probability at least ``1 − 2n·exp(−λ²/2) ≥ 1 − 2.6·10⁻¹⁴·n`` when rounding
errors behave as independent zero-mean variables, in any summation order
(pairwise, blocked and tree reductions, the ones frameworks use, have smaller
errors still).

Inside sums and contractions the operands' own errors are combined in root
sum square, the same model applied to the errors a layer receives: they are
independent across the summed axis (distinct dot products of the previous
layer; per-channel batch-norm errors, whose mean over the batch is what they
share, are a 1/√M part of each).  Elementwise operations add their operands'
bounds (the worst case).  Adding bounds in absolute value inside long sums
as well would be rigorous but useless: the bound would grow by an order of
magnitude per batch-norm layer (measured: 1.8 on logits of size 4.6 after
three blocks of ``mnist_64_bn_dropout``), while float32 itself does not.
Second-order terms ``O(u²)`` are dropped, as in every running error
analysis.  Measured on every conformance case and example, the reference's
own float32 mode, keras, torch and the NumPy plugin stay within 0.52·B
(``tests/reference``, ``tests/conformance/test_numeric_level.py``), while
the median B is 200 to 1500 times the reference's own float32 deviation on
the MNIST examples: the bound holds for any summation order, the frameworks'
blocked sums round much less.

Kinks, ties and selections
--------------------------
A comparison of bounded values (:func:`greater`) is *uncertain* where the two
sides are within their bounds of each other: a float32 evaluation may take
either branch.  :func:`select` then bounds the result by both branches
(``max(|x − v| + e_x, |y − v| + e_y)``): an element at a ReLU kink, a clipped
probability at its bound, or two merge operands in a near-tie is judged with
both one-sided values.  :func:`max_reduce` does the same for the maximum over
an axis (maxout pieces; issue 16's max pooling windows): every candidate
within the bounds of the maximum may receive the gradient.  A tie between
exact values (``e = 0``) is certain: the op's documented convention decides it
(``maximum`` to the left operand, ``maxout`` split evenly); for activation
kinks, which the IR leaves undocumented, an exact hit of the kink is
uncertain.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

U32 = 2.0**-24
"""Unit roundoff of float32 (round to nearest)."""

LAMBDA = 8.0
"""λ of the probabilistic summation bound."""

ULPS: dict[str, float] = {
    "exp": 2.0, "expm1": 2.0, "log": 2.0, "log1p": 2.0, "sqrt": 1.0, "tanh": 4.0, "erf": 4.0,
}
"""Accuracy assumed of float32 elementary functions, in units of ``u·|f(x)|``."""

MODES = ("float64", "float32", "bounded")


def gamma(n: Any) -> Any:
    """Rounding bound of a sum of `n` terms, relative to Σ|terms| (see the module docstring); `n` may be an array
    of counts.  Only terms that can be nonzero count: adding an exact zero is exact."""
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    out = np.minimum(n, LAMBDA * np.sqrt(n)) * U32
    return float(out) if out.ndim == 0 else out


def _nonzero(x: "Bounded") -> np.ndarray:
    """1.0 where the element can be nonzero in float32 (its value or its bound is), else 0.0."""
    live = x.v != 0 if x.e is None else (x.v != 0) | (x.e > 0)
    return live.astype(np.float64)


class Bounded:
    """A float64 value ``v`` and ``e ≥ 0``, a bound of |float32 evaluation − v| (None: exact)."""

    __slots__ = ("v", "e")
    __array_priority__ = 100  # numpy scalars and arrays defer to Bounded's operators

    def __init__(self, v: Any, e: Any = None) -> None:
        self.v = np.asarray(v, dtype=np.float64)
        self.e = None if e is None else np.broadcast_to(np.asarray(e, dtype=np.float64), self.v.shape)

    # -- inspection ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.v.shape

    @property
    def ndim(self) -> int:
        return self.v.ndim

    @property
    def bound(self) -> np.ndarray:
        """``e`` as a full array (zeros when exact)."""
        return np.zeros(self.v.shape) if self.e is None else np.array(self.e)

    def __repr__(self) -> str:
        return f"Bounded(shape={self.shape}, max|v|={np.abs(self.v).max() if self.v.size else 0:.3g}, " \
               f"max e={0.0 if self.e is None else (self.e.max() if self.e.size else 0):.3g})"

    # -- structure (exact) ---------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Bounded":
        return Bounded(self.v.reshape(*shape), None if self.e is None else np.reshape(self.e, self.v.reshape(*shape).shape))

    @property
    def T(self) -> "Bounded":
        return Bounded(self.v.T, None if self.e is None else self.e.T)

    def __getitem__(self, index: Any) -> "Bounded":
        return Bounded(self.v[index], None if self.e is None else self.e[index])

    # -- arithmetic ----------------------------------------------------------------------------------------
    def __add__(self, other): return add(self, other)
    def __radd__(self, other): return add(other, self)
    def __sub__(self, other): return sub(self, other)
    def __rsub__(self, other): return sub(other, self)
    def __mul__(self, other): return mul(self, other)
    def __rmul__(self, other): return mul(other, self)
    def __truediv__(self, other): return div(self, other)
    def __rtruediv__(self, other): return div(other, self)
    def __neg__(self): return Bounded(-self.v, self.e)
    def __matmul__(self, other): return matmul(self, other)
    def __rmatmul__(self, other): return matmul(other, self)


Value = Any  # np.ndarray or Bounded


def is_bounded(*xs: Any) -> bool:
    return any(isinstance(x, Bounded) for x in xs)


def _b(x: Any) -> Bounded:
    return x if isinstance(x, Bounded) else Bounded(x)


def _e(x: Bounded) -> Any:
    return 0.0 if x.e is None else x.e


def _with_rounding(v: np.ndarray, e: Any) -> Bounded:
    return Bounded(v, e + U32 * np.abs(v))


def value(x: Any) -> np.ndarray:
    """The value (float64 for Bounded, the array itself otherwise)."""
    return x.v if isinstance(x, Bounded) else np.asarray(x)


def bound(x: Any) -> np.ndarray:
    """The error bound (zeros for plain arrays and exact values)."""
    return x.bound if isinstance(x, Bounded) else np.zeros(np.shape(x))


# ---------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------

def array(x: Any, mode: str) -> Value:
    """A float32 input (data, weights, masks) in `mode`: exact."""
    if mode == "bounded":
        return Bounded(np.asarray(x, dtype=np.float32))
    return np.asarray(x, dtype=np.float64 if mode == "float64" else np.float32)


def const(c: float, mode: str) -> Value:
    """A hyperparameter: in bounded mode its float32 representation error is its bound."""
    c = float(c)
    if mode == "bounded":
        return Bounded(c, abs(float(np.float32(c)) - c))
    return np.float64(c) if mode == "float64" else np.float32(c)


def exact(x: Value) -> Value:
    """The value with its bound dropped: for shifts that cancel exactly (the max in log-sum-exp)."""
    return Bounded(x.v) if isinstance(x, Bounded) else x


# ---------------------------------------------------------------------------
# elementary operations
# ---------------------------------------------------------------------------

def add(a: Value, b: Value) -> Value:
    if not is_bounded(a, b):
        return a + b
    a, b = _b(a), _b(b)
    return _with_rounding(a.v + b.v, _e(a) + _e(b))


def sub(a: Value, b: Value) -> Value:
    if not is_bounded(a, b):
        return a - b
    a, b = _b(a), _b(b)
    return _with_rounding(a.v - b.v, _e(a) + _e(b))


def mul(a: Value, b: Value) -> Value:
    if not is_bounded(a, b):
        return a * b
    a, b = _b(a), _b(b)
    ea, eb = _e(a), _e(b)
    return _with_rounding(a.v * b.v, _times(np.abs(a.v), eb) + _times(np.abs(b.v), ea) + _times(ea, eb))


def _times(x: Any, e: Any) -> Any:
    """x·e with 0·∞ = 0 (an exact zero times an unbounded value is an exact zero)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.asarray(x) == 0, 0.0, np.multiply(x, e))


def div(a: Value, b: Value) -> Value:
    if not is_bounded(a, b):
        return a / b
    a, b = _b(a), _b(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = a.v / b.v
        margin = np.abs(b.v) - _e(b)
        e = np.where(margin > 0, (_e(a) + np.abs(v) * _e(b)) / np.where(margin > 0, margin, 1.0), np.inf)
    return _with_rounding(v, e)


def square(a: Value) -> Value:
    if not is_bounded(a):
        return a * a
    ea = _e(a)
    return _with_rounding(a.v * a.v, 2.0 * np.abs(a.v) * ea + ea * ea)


def absolute(a: Value) -> Value:
    return Bounded(np.abs(a.v), a.e) if isinstance(a, Bounded) else np.abs(a)


def _monotone(name: str, f: Callable[[np.ndarray], np.ndarray]) -> Callable[[Value], Value]:
    """An elementwise monotone function; its bound is exact in the interval [a − e, a + e]."""
    ulps = ULPS[name]

    def apply(a: Value) -> Value:
        if not isinstance(a, Bounded):
            return f(a)
        with np.errstate(all="ignore"):
            v = f(a.v)
            if a.e is None:
                e = np.zeros_like(v)
            else:
                e = np.maximum(np.abs(f(a.v + a.e) - v), np.abs(f(a.v - a.e) - v))
                e = np.where(np.isnan(e), np.inf, e)
        return Bounded(v, e + ulps * U32 * np.abs(v))

    apply.__name__ = name
    return apply


def _erf(x: np.ndarray) -> np.ndarray:
    out = np.frompyfunc(math.erf, 1, 1)(np.asarray(x, dtype=np.float64)).astype(np.float64)
    return out.astype(x.dtype) if isinstance(x, np.ndarray) else out


exp = _monotone("exp", np.exp)
expm1 = _monotone("expm1", np.expm1)
log = _monotone("log", np.log)
log1p = _monotone("log1p", np.log1p)
tanh = _monotone("tanh", np.tanh)
erf = _monotone("erf", _erf)


def sqrt(a: Value) -> Value:
    if not isinstance(a, Bounded):
        return np.sqrt(a)
    v = np.sqrt(a.v)
    e = 0.0 if a.e is None else v - np.sqrt(np.maximum(a.v - a.e, 0.0))
    return Bounded(v, e + ULPS["sqrt"] * U32 * v)


# ---------------------------------------------------------------------------
# reductions and contractions
# ---------------------------------------------------------------------------

def _count(shape: tuple[int, ...], axis: Any) -> int:
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def sum_(a: Value, axis: Any = None, keepdims: bool = False) -> Value:
    if not isinstance(a, Bounded):
        return a.sum(axis=axis, keepdims=keepdims)
    v = a.v.sum(axis=axis, keepdims=keepdims)
    e = gamma(_nonzero(a).sum(axis=axis, keepdims=keepdims)) * np.abs(a.v).sum(axis=axis, keepdims=keepdims)
    if a.e is not None:
        e = e + np.sqrt(np.square(a.e).sum(axis=axis, keepdims=keepdims))
    return Bounded(v, e)


def mean(a: Value, axis: Any = None, keepdims: bool = False) -> Value:
    n = _count(np.shape(value(a)), axis)
    return div(sum_(a, axis, keepdims), float(n)) if is_bounded(a) else np.mean(a, axis=axis, keepdims=keepdims)


def matmul(a: Value, b: Value) -> Value:
    if not is_bounded(a, b):
        return a @ b
    a, b = _b(a), _b(b)
    v = a.v @ b.v
    magnitude = np.abs(a.v) @ np.abs(b.v)
    # terms that can be nonzero: at most the nonzero count of a's row and of b's column
    terms = np.minimum(_nonzero(a).sum(axis=-1)[..., None], _nonzero(b).sum(axis=-2)[..., None, :])
    e = gamma(terms) * magnitude
    if a.e is not None or b.e is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            if a.e is None:
                spread = np.square(a.v) @ np.square(b.e)
            elif b.e is None:
                spread = np.square(a.e) @ np.square(b.v)
            else:  # a²·e_b² + e_a²·b² + e_a²·e_b²
                ea2 = np.square(a.e)
                spread = (np.square(a.v) + ea2) @ np.square(b.e) + ea2 @ np.square(b.v)
        e = e + np.sqrt(np.nan_to_num(spread, nan=np.inf))
    return Bounded(v, e)


# ---------------------------------------------------------------------------
# structure (exact)
# ---------------------------------------------------------------------------

def reshape(a: Value, shape: Sequence[int]) -> Value:
    return a.reshape(tuple(shape))


def concatenate(xs: Sequence[Value], axis: int) -> Value:
    if not is_bounded(*xs):
        return np.concatenate(xs, axis=axis)
    bs = [_b(x) for x in xs]
    e = None if all(x.e is None for x in bs) else np.concatenate([x.bound for x in bs], axis=axis)
    return Bounded(np.concatenate([x.v for x in bs], axis=axis), e)


def split(a: Value, sizes: Sequence[int], axis: int) -> list[Value]:
    cuts = np.cumsum(sizes)[:-1]
    if not isinstance(a, Bounded):
        return np.split(a, cuts, axis=axis)
    es = [None] * len(sizes) if a.e is None else np.split(np.asarray(a.e), cuts, axis=axis)
    return [Bounded(v, e) for v, e in zip(np.split(a.v, cuts, axis=axis), es)]


def take(a: Value, index: np.ndarray, axis: int = -1) -> Value:
    """``take_along_axis`` (exact)."""
    if not isinstance(a, Bounded):
        return np.take_along_axis(a, index, axis=axis)
    return Bounded(np.take_along_axis(a.v, index, axis=axis),
                   None if a.e is None else np.take_along_axis(np.asarray(a.e), index, axis=axis))


def transpose(a: Value, axes: Sequence[int]) -> Value:
    """Axes permuted (exact)."""
    if not isinstance(a, Bounded):
        return np.transpose(a, axes)
    return Bounded(np.transpose(a.v, axes), None if a.e is None else np.transpose(np.asarray(a.e), axes))


def pad(a: Value, widths: Sequence[tuple[int, int]], fill: float = 0.0) -> Value:
    """`a` padded with the exact constant `fill` (cells before, after) per axis."""
    if not isinstance(a, Bounded):
        return np.pad(a, widths, constant_values=fill)
    return Bounded(np.pad(a.v, widths, constant_values=fill), None if a.e is None else np.pad(np.asarray(a.e), widths))


def zeros_like(a: Value) -> Value:
    return Bounded(np.zeros(a.shape)) if isinstance(a, Bounded) else np.zeros_like(a)


def full_like(a: Value, c: float) -> Value:
    """An exact constant array of a's shape (and dtype)."""
    return Bounded(np.full(a.shape, float(c))) if isinstance(a, Bounded) else np.full_like(a, c)


def either(first: Value, second: Value) -> Value:
    """The value of two formulas of one quantity (equal in exact arithmetic), bounded by the larger bound."""
    if not isinstance(first, Bounded):
        return first
    return Bounded(first.v, np.maximum(first.bound, second.bound))


def max_value(a: Value, axis: int = -1, keepdims: bool = True) -> Value:
    """The maximum as an exact shift (for log-sum-exp and softmax, where it cancels)."""
    if not isinstance(a, Bounded):
        return a.max(axis=axis, keepdims=keepdims)
    return Bounded(a.v.max(axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------------------
# comparisons, selections, kinks and ties
# ---------------------------------------------------------------------------

class Cond:
    """A comparison of bounded values: ``c`` (the float64 outcome) and where a float32 evaluation may differ."""

    __slots__ = ("c", "uncertain")

    def __init__(self, c: np.ndarray, uncertain: np.ndarray) -> None:
        self.c, self.uncertain = c, uncertain


def _compare(a: Value, b: Value, op: Callable, exact_tie_uncertain: bool) -> Any:
    if not is_bounded(a, b):
        return op(a, b)
    a, b = _b(a), _b(b)
    noise = _e(a) + _e(b)
    gap = np.abs(a.v - b.v)
    uncertain = gap <= noise if exact_tie_uncertain else (gap <= noise) & (np.broadcast_to(noise, gap.shape) > 0)
    return Cond(op(a.v, b.v), uncertain)


def greater(a: Value, b: Value, *, exact_tie_uncertain: bool = True) -> Any:
    """``a > b`` (a kink: an exact tie is uncertain unless told otherwise)."""
    return _compare(a, b, np.greater, exact_tie_uncertain)


def greater_equal(a: Value, b: Value, *, exact_tie_uncertain: bool = True) -> Any:
    return _compare(a, b, np.greater_equal, exact_tie_uncertain)


def less(a: Value, b: Value, *, exact_tie_uncertain: bool = True) -> Any:
    return _compare(a, b, np.less, exact_tie_uncertain)


def less_equal(a: Value, b: Value, *, exact_tie_uncertain: bool = True) -> Any:
    return _compare(a, b, np.less_equal, exact_tie_uncertain)


def both(p: Any, q: Any) -> Any:
    """``p and q`` of two comparisons (uncertain where either is and the other does not settle it)."""
    if not isinstance(p, Cond) and not isinstance(q, Cond):
        return np.logical_and(p, q)
    p = p if isinstance(p, Cond) else Cond(np.asarray(p), np.zeros(np.shape(p), bool))
    q = q if isinstance(q, Cond) else Cond(np.asarray(q), np.zeros(np.shape(q), bool))
    c = p.c & q.c
    settled = (~p.c & ~p.uncertain) | (~q.c & ~q.uncertain)
    return Cond(c, (p.uncertain | q.uncertain) & ~settled)


def select(cond: Any, x: Value, y: Value) -> Value:
    """``where(cond, x, y)``; where the condition is uncertain, bounded by both branches."""
    if not isinstance(cond, Cond) and not is_bounded(x, y):
        return np.where(cond, x, y)
    if not isinstance(cond, Cond):
        cond = Cond(np.asarray(cond), np.zeros(np.shape(cond), bool))
    x, y = _b(x), _b(y)
    v = np.where(cond.c, x.v, y.v)
    ex, ey = np.broadcast_to(_e(x), v.shape), np.broadcast_to(_e(y), v.shape)
    chosen = np.where(cond.c, ex, ey)
    either = np.maximum(np.abs(np.broadcast_to(x.v, v.shape) - v) + ex, np.abs(np.broadcast_to(y.v, v.shape) - v) + ey)
    return Bounded(v, np.where(cond.uncertain, either, chosen))


def max_reduce(z: Value, axis: int = -1, ties: str = "split") -> tuple[Value, Any]:
    """The maximum over `axis` and the *routing* its gradient takes: ``(y, route)``.

    ``route`` is what :func:`max_backward` needs: the share of the gradient each
    candidate receives (1 for the maximum), and in bounded mode which candidates
    a float32 evaluation may pick instead — those within their bounds of the
    maximum (see the module docstring).  Exact ties follow `ties`: ``"split"``
    divides the gradient evenly between the tied maxima (``reduce_max``,
    maxout); ``"any"`` gives it to one of them, which one being left open (max
    pooling: the frameworks keep one argmax) — the plain modes give it to the
    first, bounded mode lets each tied maximum receive anything from 0 to all.
    """
    if not isinstance(z, Bounded):
        y = z.max(axis=axis)
        if ties == "any":
            first = np.expand_dims(np.argmax(z, axis=axis), axis)
            share = np.zeros_like(z)
            np.put_along_axis(share, first, 1.0, axis=axis)
            return y, share
        winners = z == np.expand_dims(y, axis)
        return y, (winners / winners.sum(axis=axis, keepdims=True)).astype(z.dtype)
    y = z.v.max(axis=axis)
    ez = z.bound
    low = (z.v - ez).max(axis=axis, keepdims=True)  # the maximum is at least this in any evaluation
    high = (z.v + ez).max(axis=axis)
    candidates = z.v + ez >= low
    noisy = (candidates & (ez > 0)).any(axis=axis, keepdims=True)
    several = candidates.sum(axis=axis, keepdims=True) > 1
    # without noise the candidates are exactly the tied maxima: uncertain only when ties may go anywhere
    uncertain = candidates & several & (noisy | (ties == "any"))
    winners = z.v == np.expand_dims(y, axis)
    if ties == "any":
        share = np.zeros(z.v.shape)
        np.put_along_axis(share, np.expand_dims(np.argmax(z.v, axis=axis), axis), 1.0, axis=axis)
    else:
        share = winners / winners.sum(axis=axis, keepdims=True)
    e = np.maximum(high - y, y - np.squeeze(low, axis))
    return Bounded(y, e), (share, uncertain, axis)


def max_backward(dy: Value, route: Any, axis: int = -1) -> Value:
    """∂L/∂z of :func:`max_reduce`: dy to the maximum (shared on exact ties); in bounded mode every candidate
    a float32 evaluation may pick is allowed anything between 0 and the whole of dy."""
    if not isinstance(route, tuple):
        return (np.expand_dims(dy, axis) * route).astype(route.dtype)
    share, uncertain, axis = route
    dyb = _b(dy)
    dv = np.expand_dims(dyb.v, axis)
    de = np.expand_dims(np.broadcast_to(_e(dyb), dyb.shape), axis)
    v = dv * share
    e = np.where(uncertain, np.abs(dv) + de, share * de)
    return Bounded(v, e)
