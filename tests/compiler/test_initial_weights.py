"""Initial weights drawn by dnnc: formulas, truncation, determinism, independence per parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dnnc
from dnnc.compiler.initial_weights import TRUNCATED_STD_FACTOR, draw, param_generator
from dnnc.compiler.ir_types import initializer_ir

SHAPE = (400, 300)  # fan_in 400, fan_out 300
N = SHAPE[0] * SHAPE[1]


def _draw(init):
    return draw(initializer_ir(init), SHAPE, param_generator(0, "layer/kernel")).astype(np.float64)


def _std_tol(std):  # standard error of the sample std is about std/sqrt(2N); allow 5 of them
    return 5 * std / math.sqrt(2 * N)


@pytest.mark.parametrize("name,std", [
    ("glorot_normal", math.sqrt(2 / 700)), ("he_normal", math.sqrt(2 / 400)), ("lecun_normal", math.sqrt(1 / 400)),
])
def test_truncated_families(name, std):
    w = _draw({"type": name})
    assert abs(w.mean()) < 5 * std / math.sqrt(N)
    assert abs(w.std() - std) < _std_tol(std)
    # truncated at two standard deviations of the underlying normal
    bound = 2 * std / TRUNCATED_STD_FACTOR
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize("name,limit", [
    ("glorot_uniform", math.sqrt(6 / 700)), ("he_uniform", math.sqrt(6 / 400)), ("lecun_uniform", math.sqrt(3 / 400)),
])
def test_uniform_families(name, limit):
    w = _draw({"type": name})
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.999 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < _std_tol(limit / math.sqrt(3))


def test_random_normal_is_untruncated():
    w = _draw({"type": "random_normal", "mean": 0.5, "stddev": 1.0})
    assert abs(w.mean() - 0.5) < 5 / math.sqrt(N)
    assert abs(w.std() - 1.0) < _std_tol(1.0)
    assert np.abs(w - 0.5).max() > 3.5  # far beyond a 2-sigma truncation


def test_truncated_normal():
    w = _draw({"type": "truncated_normal", "mean": 0.0, "stddev": 0.05})
    assert np.abs(w).max() <= 0.1
    # std of N(0, σ²) truncated at ±2σ
    assert abs(w.std() - 0.05 * TRUNCATED_STD_FACTOR) < _std_tol(0.044)


def test_random_uniform_and_constants():
    w = _draw({"type": "random_uniform", "minval": -0.2, "maxval": 0.1})
    assert w.min() >= -0.2 and w.max() < 0.1 and abs(w.mean() + 0.05) < 0.002
    assert (_draw({"type": "constant", "value": 0.3}) == np.float32(0.3)).all()
    assert (_draw({"type": "zeros"}) == 0).all() and (_draw({"type": "ones"}) == 1).all()


def test_variance_scaling_modes():
    w = _draw({"type": "variance_scaling", "scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"})
    assert abs(w.std() - math.sqrt(2 / 300)) < _std_tol(math.sqrt(2 / 300))


def test_same_seed_same_weights_and_independent_params():
    from support.paths import EXAMPLES

    ir = dnnc.compile_spec(EXAMPLES / "mnist_bn_dropout.toml")
    a, b = dnnc.initial_weights(ir, 0), dnnc.initial_weights(ir, 0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = dnnc.initial_weights(ir, 1)
    assert not np.array_equal(a["dense/kernel"], c["dense/kernel"])
    assert a["batch_norm/moving_variance"].tolist() == [1.0] * 256
    assert all(v.dtype == np.float32 for v in a.values())
    assert set(a) == {k for k, _, _ in ir.weight_specs()}


@pytest.mark.parametrize("init, most", [
    ({"type": "glorot_uniform"}, 1.1), ({"type": "random_normal", "mean": 0.0, "stddev": 1.0}, 1.1), ({"type": "zeros"}, 1.1),
    ({"type": "he_normal"}, 1.6),  # + the boolean masks of the ±2σ re-draw test (1 byte a value each)
])
def test_drawing_a_parameter_takes_little_more_memory_than_the_parameter(init, most):
    """Values are drawn in float32 directly. Measured peaks: 1.0× the parameter (1.5× for truncated normals);
    drawing in float64 and casting took 3.0× (uniform, constants) and 6.25× (truncated normals)."""
    import tracemalloc

    shape = (1000, 5000)  # 20 MB of float32
    tracemalloc.start()
    try:
        w = draw(initializer_ir(init), shape, param_generator(0, "big/kernel"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert w.dtype == np.float32 and w.shape == shape
    assert peak <= most * w.nbytes, f"peak {peak / w.nbytes:.2f}× the parameter"


def test_uniform_draws_stay_below_the_upper_bound():
    rng = param_generator(3, "u/kernel")
    w = draw(initializer_ir({"type": "random_uniform", "minval": 1.0, "maxval": 1.0000001}), (100_000,), rng)
    assert w.min() >= np.float32(1.0) and w.max() < np.float32(1.0000001)
