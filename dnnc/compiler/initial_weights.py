"""Initial weights drawn by dnnc itself, identical for every backend.

Each parameter gets its own NumPy ``Generator(Philox)`` keyed by the seed and
the SHA-256 of ``"<node>/<param>"``, so adding a layer does not change the
other layers' draws.  Values are drawn in float32 directly (``standard_normal``
and ``random`` with ``dtype=float32``, then scaled in float32), so drawing a
parameter peaks at its own size (1.5 times for the truncated normals' re-draw masks).

Fans (Keras convention): for a 2-D kernel (in, out) fan_in = in, fan_out = out;
for N-D, the receptive field multiplies both; for 1-D, fan_in = fan_out = n.

================  ===============================================================
initializer       distribution
================  ===============================================================
zeros / ones      constant 0 / 1
constant          constant `value`
random_normal     mean + stddev·z, z ~ N(0, 1) untruncated
random_uniform    minval + (maxval − minval)·u, u ~ U[0, 1) (kept below maxval)
truncated_normal  mean + stddev·z, z ~ N(0, 1) re-drawn (in index order) outside ±2
variance_scaling  n = fan_in, fan_out or (fan_in + fan_out)/2 (at least 1);
                  uniform: U(±sqrt(3·scale/n));
                  untruncated_normal: N(0, scale/n);
                  truncated_normal: σ = sqrt(scale/n)/0.87962566103423978,
                  re-drawn outside ±2σ (so the drawn std is sqrt(scale/n))
glorot_*          variance_scaling(1, fan_avg, uniform | truncated_normal)
he_*              variance_scaling(2, fan_in, …)
lecun_*           variance_scaling(1, fan_in, …)
orthogonal        gain·Q (Keras's algorithm): rows = Π shape[:−1], cols = shape[−1];
                  A ~ N(0, 1) of shape (max, min) in float32, Q, R = qr(A) (float64),
                  Q·sign(diag R), transposed when rows < cols, reshaped
================  ===============================================================

An LSTM bias with ``unit_forget_bias`` is drawn as Keras builds it: the i slice
(units,), ones for the f slice, then the c, o slices (2·units,), in that order
from the parameter's generator (:data:`dnnc.compiler.recurrent_ops.INITIAL_VALUE_RULES`).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from .ir import ModelIR

#: Standard deviation of N(0, 1) truncated to [−2, 2].
TRUNCATED_STD_FACTOR = 0.87962566103423978

_FAMILIES = {
    "glorot": (1.0, "fan_avg"),
    "he": (2.0, "fan_in"),
    "lecun": (1.0, "fan_in"),
}


def compute_fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) of a parameter shape, Keras convention."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def param_generator(seed: int, key: str) -> np.random.Generator:
    """The generator of one parameter: Philox keyed by (seed, sha256(key))."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.Generator(np.random.Philox(key=[seed & 0xFFFFFFFFFFFFFFFF, digest]))


def _normal(rng: np.random.Generator, mean: float, std: float, shape: tuple[int, ...]) -> np.ndarray:
    out = rng.standard_normal(size=shape, dtype=np.float32)
    out *= np.float32(std)
    out += np.float32(mean)
    return out


def _truncated(rng: np.random.Generator, mean: float, std: float, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals re-drawn, in index order, until every one is within ±2; then scaled."""
    out = rng.standard_normal(size=shape, dtype=np.float32)
    flat = out.reshape(-1)
    redraw = np.flatnonzero((flat > 2) | (flat < -2))
    while redraw.size:
        z = rng.standard_normal(size=redraw.size, dtype=np.float32)
        keep = (z <= 2) & (z >= -2)
        flat[redraw[keep]] = z[keep]
        redraw = redraw[~keep]
    out *= np.float32(std)
    out += np.float32(mean)
    return out


def _uniform(rng: np.random.Generator, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
    """U[low, high): float32 uniforms on [0, 1) scaled, kept below float32(high) where rounding reaches it."""
    out = rng.random(size=shape, dtype=np.float32)
    out *= np.float32(high) - np.float32(low)
    out += np.float32(low)
    below_high = max(np.nextafter(np.float32(high), np.float32(-np.inf)), np.float32(low))
    np.minimum(out, below_high, out=out)
    return out


def _variance_scaling(rng, shape, scale: float, mode: str, distribution: str) -> np.ndarray:
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return _uniform(rng, -limit, limit, shape)
    if distribution == "untruncated_normal":
        return _normal(rng, 0.0, math.sqrt(variance), shape)
    return _truncated(rng, 0.0, math.sqrt(variance) / TRUNCATED_STD_FACTOR, shape)


def _orthogonal(rng: np.random.Generator, gain: float, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) < 2:
        raise ValueError(f"the orthogonal initializer needs a parameter of rank ≥ 2 (received shape {list(shape)})")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = rng.standard_normal(size=(max(rows, cols), min(rows, cols)), dtype=np.float32).astype(np.float64)
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return (float(gain) * q).reshape(shape).astype(np.float32)


def draw(init: Any, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw one float32 array for an IR initializer (:data:`dnnc.compiler.ir_types.InitializerIR`).

    Every value is drawn in float32 directly (NumPy's float32 generators): no float64 copy is made."""
    kind = init.type
    shape = tuple(shape)
    if kind == "zeros":
        return np.zeros(shape, dtype=np.float32)
    if kind == "ones":
        return np.ones(shape, dtype=np.float32)
    if kind == "constant":
        return np.full(shape, init.value, dtype=np.float32)
    if kind == "random_normal":
        return _normal(rng, init.mean, init.stddev, shape)
    if kind == "random_uniform":
        return _uniform(rng, init.minval, init.maxval, shape)
    if kind == "truncated_normal":
        return _truncated(rng, init.mean, init.stddev, shape)
    if kind == "variance_scaling":
        return _variance_scaling(rng, shape, init.scale, init.mode, init.distribution)
    if kind == "orthogonal":
        return _orthogonal(rng, init.gain, shape)
    family, _, dist = kind.partition("_")
    if family not in _FAMILIES or dist not in ("normal", "uniform"):
        raise ValueError(f"unknown initializer {kind!r}")
    scale, mode = _FAMILIES[family]
    return _variance_scaling(rng, shape, scale, mode, "uniform" if dist == "uniform" else "truncated_normal")


def initial_weights(ir: ModelIR, seed: int | None = None) -> dict[str, np.ndarray]:
    """Every parameter of the IR drawn from `seed` (default: the spec's training seed, else 0)."""
    if seed is None:
        seed = ir.training.seed if ir.training is not None else 0
    from .recurrent_ops import INITIAL_VALUE_RULES

    out = {}
    for key, node, p in ir.weight_specs():
        rng = param_generator(seed, key)
        rule = INITIAL_VALUE_RULES.get(node.op)
        value = rule(node.attrs, p.name, p.init, tuple(p.shape), rng, draw) if rule is not None else None
        out[key] = draw(p.init, p.shape, rng) if value is None else value
    return out
