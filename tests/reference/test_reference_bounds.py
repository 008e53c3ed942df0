"""The reference's float32 error bounds: they hold for float32 evaluations, and they treat kinks and ties explicitly.

* Bounded mode computes exactly the float64 mode's values; the reference's own float32 mode (one float32
  implementation of every formula) lies within the bounds for every conformance case — outputs in both
  modes, moving statistics, losses, gradients (measured: worst |Δ|/B ≈ 0.36).
* The losses are dnnc's definitions (dnnc.numerics.losses, penalties) for every case.
* Kinks and ties: an element within float32 noise of a ReLU kink, of a merge tie or of a maxout tie is
  judged with both one-sided values; exact ties follow the op's documented convention.
* One optimizer step's bound covers a float32 Adam that computes its bias correction from float32 β's
  (as Keras does) — including an element whose gradient is 0 for 21 steps, and near-ε gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.compiler.initial_weights import initial_weights
from dnnc.conformance.batches import make_batch
from dnnc.conformance.cases import CASES
from dnnc.numerics.losses import loss_value
from dnnc.numerics.penalties import regularizer_penalty
from dnnc.reference import Bounded, Reference, gamma
from dnnc.reference import arith as A
from dnnc.reference.optimizer import OracleOptimizer


def _all_values(ev):
    out = {f"out:{k}": v for k, v in ev.outputs.items()}
    out.update({f"moving:{k}": v for k, v in ev.moving.items()})
    out.update({f"loss:{k}": v for k, v in ev.losses.items()})
    out.update({f"grad:{k}": v for k, v in ev.gradients.items()})
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_float32_evaluations_lie_within_the_bounds(case):
    ir = case.ir()
    w = initial_weights(ir, 0)
    x, t, m = make_batch(ir, case.batch_size, seed=1)
    for training in (True, False):
        kw = dict(training=training, dropout_masks=m)
        bounded = _all_values(Reference(ir, "bounded").loss_and_gradients(w, x, t, **kw))
        f64 = _all_values(Reference(ir, "float64").loss_and_gradients(w, x, t, **kw))
        f32 = _all_values(Reference(ir, "float32").loss_and_gradients(w, x, t, **kw))
        for key, b in bounded.items():
            np.testing.assert_array_equal(b.v, np.asarray(f64[key], np.float64), err_msg=key)
            d = np.abs(np.asarray(f32[key], np.float64) - b.v)
            assert np.all(d <= b.bound), (key, float(np.max(d - b.bound)))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_losses_are_dnnc_definitions(case):
    ir = case.ir()
    w = initial_weights(ir, 0)
    x, t, m = make_batch(ir, case.batch_size, seed=1)
    ev = Reference(ir, "float64").loss_and_gradients(w, x, t, training=True, dropout_masks=m)
    total = sum(o.loss_weight * loss_value(o.loss, o.head, ev.outputs[o.name], t[o.name]) for o in ir.outputs)
    total += sum(regularizer_penalty(p.regularizer.model_dump(), w[k]) for k, _, p in ir.weight_specs()
                 if p.regularizer is not None)
    assert float(ev.losses["loss"]) == pytest.approx(total, rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------------------
# kinks and ties
# ---------------------------------------------------------------------------

def test_an_element_at_a_relu_kink_is_judged_with_both_one_sided_values():
    from dnnc.reference.activations import d_relu, relu

    z = Bounded([-1.0, -1e-9, 1e-9, 0.0, 2.0], [1e-8, 1e-8, 1e-8, 0.0, 1e-8])
    d = d_relu(None, z, relu(None, z, "bounded"), "bounded")
    np.testing.assert_array_equal(d.v, [0, 0, 1, 0, 1])
    # near the kink (and exactly on it: the IR does not document relu'(0)) both 0 and 1 are allowed
    np.testing.assert_array_equal(d.bound, [0, 1, 1, 1, 0])
    y = relu(None, z, "bounded")
    np.testing.assert_allclose(y.bound[[0, 1, 2]], [0.0, 1e-8 + 1e-9, 1e-8], rtol=1e-6)  # relu([z − e, z + e]) − relu(z)


def test_merge_ties_go_left_when_exact_and_either_way_within_noise():
    from dnnc.reference.ops import maximum_forward, select_backward

    exact = [Bounded([1.0, 2.0]), Bounded([1.0, 3.0])]  # exact values: a true tie in element 0
    y, picks = maximum_forward(None, exact, {}, None)
    dxs, _ = select_backward(None, Bounded([1.0, 1.0]), picks, {}, None, [True, True])
    np.testing.assert_array_equal(dxs[0].v, [1, 0])  # the tie goes to the left operand (the IR's convention)
    np.testing.assert_array_equal(dxs[0].bound + dxs[1].bound, [0, 0])
    noisy = [Bounded([1.0, 2.0], [1e-7, 1e-7]), Bounded([1.0 + 1e-8, 3.0], [1e-7, 1e-7])]
    y, picks = maximum_forward(None, noisy, {}, None)
    dxs, _ = select_backward(None, Bounded([1.0, 1.0]), picks, {}, None, [True, True])
    np.testing.assert_array_equal(dxs[1].v, [1, 1])
    assert dxs[0].bound[0] == 1.0 and dxs[1].bound[0] == 1.0 and dxs[0].bound[1] == 0.0  # either operand in 0


def test_max_reduce_routes_the_gradient_and_allows_every_candidate_within_noise():
    """The generic maximum over an axis (maxout groups today, max-pooling windows with issue 16)."""
    z = Bounded([[5.0, 1.0, 5.0 - 1e-9], [2.0, 2.0, 0.0]], [[1e-8, 1e-8, 1e-8], [0.0, 0.0, 0.0]])
    y, route = A.max_reduce(z, axis=-1)
    np.testing.assert_array_equal(y.v, [5.0, 2.0])
    dz = A.max_backward(Bounded([1.0, 1.0]), route, axis=-1)
    np.testing.assert_array_equal(dz.v, [[1, 0, 0], [0.5, 0.5, 0]])  # an exact tie is split evenly (maxout)
    np.testing.assert_array_equal(dz.bound, [[1, 0, 1], [0, 0, 0]])  # the near-tie may go to either maximum
    plain, share = A.max_reduce(np.array([[1.0, 3.0, 3.0]]))
    np.testing.assert_array_equal(A.max_backward(np.array([2.0]), share), [[0, 1, 1]])


# ---------------------------------------------------------------------------
# the arithmetic
# ---------------------------------------------------------------------------

def test_gamma_and_constants():
    assert gamma(1) == A.U32 and gamma(64) == 64 * A.U32  # n·u for short sums
    assert gamma(10_000) == pytest.approx(8 * 100 * A.U32)  # λ√n·u for long ones
    assert A.const(0.5, "bounded").bound == 0.0  # exactly representable
    assert float(A.const(0.1, "bounded").bound) == pytest.approx(abs(float(np.float32(0.1)) - 0.1))
    assert np.isinf(A.div(Bounded(1.0), Bounded(1e-9, 1e-8)).bound)  # a denominator that may be 0
    # adding exact zeros is exact: only the terms that can be nonzero count
    s = A.sum_(Bounded([1.0, 0.0, 0.0, 0.0]))
    assert float(s.bound) == pytest.approx(gamma(1) * 1.0)


def _keras_adam_f32(w, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-7):
    """One float32 Adam step computed as Keras 3 does: the bias correction from float32 β's, 1 − β in float64."""
    f = np.float32
    b1p, b2p = np.power(f(b1), f(t)), np.power(f(b2), f(t))
    alpha = f(lr) * np.sqrt(f(1) - b2p) / (f(1) - b1p)
    m = m + (g - m) * f(1 - b1)
    v = v + (g * g - v) * f(1 - b2)
    return (w - (m * alpha) / (np.sqrt(v) + f(eps))).astype(np.float32), m, v


def test_an_optimizer_step_bound_covers_a_float32_adam():
    rng = np.random.default_rng(0)
    config = {"type": "adam", "learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "amsgrad": False, "weight_decay": 0.0, "clipnorm": None, "global_clipnorm": None, "clipvalue": None}
    oracle = OracleOptimizer(config)
    w = rng.normal(0, 0.05, 2000).astype(np.float32)
    m, v = np.zeros_like(w), np.zeros_like(w)
    worst = 0.0
    for t in range(1, 31):
        g = rng.normal(0, 1e-3, w.shape) * rng.choice([1.0, 1e-4, 1e-6], w.shape)  # some near ε
        g[:100] = 0.0 if t <= 21 else g[:100]  # zero until step 21: then Adam's first step at t = 22
        g32 = g.astype(np.float32)
        bound = np.abs(g) * 1e-6  # the gradient's own bound: the float32 gradient is g rounded, within it
        predicted = oracle.step({"w": w}, {"w": Bounded(g32.astype(np.float64), bound)}, 1e-3)["w"]
        w, m, v = _keras_adam_f32(w, g32, m, v, t, 1e-3)
        ratio = np.abs(w - predicted.v) / predicted.bound
        worst = max(worst, float(np.nanmax(ratio)))
    assert worst <= 1.0
