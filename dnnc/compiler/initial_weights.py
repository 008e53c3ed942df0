"""Initial weights drawn by dnnc itself, identical for every backend.

Each parameter gets its own NumPy ``Generator(Philox)`` keyed by the seed and
the SHA-256 of ``"<node>/<param>"``, so adding a layer does not change the
other layers' draws.  Values are drawn in float64 with the formulas below and
stored as float32 in the canonical layout.

Fans (Keras convention): for a 2-D kernel (in, out) fan_in = in, fan_out = out;
for N-D, the receptive field multiplies both; for 1-D, fan_in = fan_out = n.

================  ===============================================================
initializer       distribution
================  ===============================================================
zeros / ones      constant 0 / 1
constant          constant `value`
random_normal     N(mean, stddev²), untruncated
random_uniform    U[minval, maxval)
truncated_normal  N(mean, stddev²) re-drawn outside mean ± 2·stddev
variance_scaling  n = fan_in, fan_out or (fan_in + fan_out)/2 (at least 1);
                  uniform: U(±sqrt(3·scale/n));
                  untruncated_normal: N(0, scale/n);
                  truncated_normal: σ = sqrt(scale/n)/0.87962566103423978,
                  re-drawn outside ±2σ (so the drawn std is sqrt(scale/n))
glorot_*          variance_scaling(1, fan_avg, uniform | truncated_normal)
he_*              variance_scaling(2, fan_in, …)
lecun_*           variance_scaling(1, fan_in, …)
================  ===============================================================
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


def _truncated(rng: np.random.Generator, mean: float, std: float, shape: tuple[int, ...]) -> np.ndarray:
    out = rng.normal(mean, std, size=shape)
    bad = np.abs(out - mean) > 2 * std
    while bad.any():
        out[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = np.abs(out - mean) > 2 * std
    return out


def _variance_scaling(rng, shape, scale: float, mode: str, distribution: str) -> np.ndarray:
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, size=shape)
    if distribution == "untruncated_normal":
        return rng.normal(0.0, math.sqrt(variance), size=shape)
    return _truncated(rng, 0.0, math.sqrt(variance) / TRUNCATED_STD_FACTOR, shape)


def draw(init: Any, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw one array (float32) for an IR initializer (:data:`dnnc.compiler.ir_types.InitializerIR`)."""
    kind = init.type
    shape = tuple(shape)
    if kind == "zeros":
        out = np.zeros(shape)
    elif kind == "ones":
        out = np.ones(shape)
    elif kind == "constant":
        out = np.full(shape, init.value)
    elif kind == "random_normal":
        out = rng.normal(init.mean, init.stddev, size=shape)
    elif kind == "random_uniform":
        out = rng.uniform(init.minval, init.maxval, size=shape)
    elif kind == "truncated_normal":
        out = _truncated(rng, init.mean, init.stddev, shape)
    elif kind == "variance_scaling":
        out = _variance_scaling(rng, shape, init.scale, init.mode, init.distribution)
    else:
        family, _, dist = kind.partition("_")
        if family not in _FAMILIES or dist not in ("normal", "uniform"):
            raise ValueError(f"unknown initializer {kind!r}")
        scale, mode = _FAMILIES[family]
        out = _variance_scaling(rng, shape, scale, mode, "uniform" if dist == "uniform" else "truncated_normal")
    return np.asarray(out, dtype=np.float32)


def initial_weights(ir: ModelIR, seed: int | None = None) -> dict[str, np.ndarray]:
    """Every parameter of the IR drawn from `seed` (default: the spec's training seed, else 0)."""
    if seed is None:
        seed = ir.training.seed if ir.training is not None else 0
    return {key: draw(p.init, p.shape, param_generator(seed, key)) for key, _, p in ir.weight_specs()}
