"""The output heads (dnnc.numerics.heads): one sigmoid and one softmax for losses, metrics and predictions."""

from __future__ import annotations

import numpy as np

from dnnc.numerics import apply_head, sigmoid, softmax


def test_sigmoid_is_exact_in_both_tails_and_finite_everywhere():
    x = np.linspace(-30.0, 30.0, 6001)
    np.testing.assert_allclose(sigmoid(x), 1.0 / (1.0 + np.exp(-x)), rtol=1e-15, atol=0)
    np.testing.assert_allclose(sigmoid(x) + sigmoid(-x), 1.0, rtol=0, atol=2.3e-16)
    # far left the value is e^x, not a rounded 0 (0.5·(1 + tanh(x/2)) gives 0 here)
    np.testing.assert_allclose(sigmoid(np.array([-40.0, -700.0])), np.exp([-40.0, -700.0]), rtol=1e-12)
    assert np.all(np.isfinite(sigmoid(np.array([-1e4, 1e4])))) and sigmoid(np.array([1e4]))[0] == 1.0
    assert sigmoid(np.array([0.0]))[0] == 0.5


def test_softmax_is_shifted_and_heads_are_float64():
    z = np.array([[1000.0, 0.0], [-1000.0, 0.0]])
    np.testing.assert_allclose(softmax(z), [[1, 0], [0, 1]])
    logits = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(apply_head("softmax", logits).sum(-1), 1.0, rtol=1e-15)
    for head in ("linear", "softmax", "sigmoid"):
        assert apply_head(head, logits).dtype == np.float64
    np.testing.assert_array_equal(apply_head("sigmoid", logits), sigmoid(logits.astype(np.float64)))
    np.testing.assert_array_equal(apply_head("linear", logits), logits.astype(np.float64))
