"""Tests of the dnnc-numpy backend on its own (no other backend needed).

* gradient checks: every op, activation, loss and penalty, by central finite
  differences on a float64 copy of the model (|analytic − numeric| <= 1e-7 + 1e-6·|numeric|);
* forward values against formulas written out in the test;
* optimizer steps against hand-computed values, and 10-step trajectories
  against dnnc's NumPy reference (dnnc.numerics, test-only: the plugin itself
  never imports it);
* the .npz artifact round trip.

Run: ``pytest examples/plugins/dnnc-numpy/tests`` (with dnnc and dnnc-numpy installed).
"""

from __future__ import annotations

import math
import zipfile

import numpy as np
import pytest
from pydantic import TypeAdapter

from dnnc.backends.base import BackendError, CompiledModel, StepResult
from dnnc.compiler.ir import ModelIR, NodeIR, OutputIR, ParamIR, TrainingIR
from dnnc.compiler.lower_layers import CORE_OPS
from dnnc.spec_schema.activations import ACTIVATION_NAMES
from dnnc.spec_schema.optimizers import OptimizerSpec

from dnnc_numpy import NumpyBackend, NumpyModel
from dnnc_numpy.activations import ACTIVATIONS, make_activation
from dnnc_numpy.layers import LAYERS
from dnnc_numpy.optimizers import OPTIMIZERS, make_optimizer

OPT = TypeAdapter(OptimizerSpec)
SGD = {"type": "sgd"}


def optimizer_ir(spec) -> dict:
    """An optimizer table with every default explicit, as the compiler writes it."""
    return OPT.validate_python(spec).model_dump()


# ---------------------------------------------------------------------------
# A tiny IR builder
# ---------------------------------------------------------------------------

def P(name, shape, trainable=True, regularizer=None):
    return ParamIR(name=name, shape=tuple(shape), trainable=trainable, init={"type": "zeros"}, regularizer=regularizer)


def N(name, op, inputs, shape, attrs=None, params=()):
    return NodeIR(name=name, op=op, inputs=tuple(inputs), attrs=attrs or {}, params=tuple(params), shape=tuple(shape))


def inp(name, shape):
    return N(name, "input", (), shape, {"dtype": "float32"})


def dense(name, src, n_in, units, act="linear", use_bias=True, kernel_reg=None, lead=()):
    act = act if isinstance(act, dict) else {"type": act}
    params = [P("kernel", (n_in, units), regularizer=kernel_reg)] + ([P("bias", (units,))] if use_bias else [])
    return N(name, "dense", (src,), (*lead, units), {"units": units, "use_bias": use_bias, "activation": act}, params)


def batch_norm(name, src, c, momentum=0.9, epsilon=1e-3, center=True, scale=True, lead=()):
    params = ([P("gamma", (c,))] if scale else []) + ([P("beta", (c,))] if center else [])
    params += [P("moving_mean", (c,), False), P("moving_variance", (c,), False)]
    attrs = {"axis": -1, "momentum": momentum, "epsilon": epsilon, "center": center, "scale": scale, "inference_mode": False}
    return N(name, "batch_norm", (src,), (*lead, c), attrs, params)


def model_ir(nodes, outputs, optimizer=SGD, inputs=None, seed=0) -> ModelIR:
    outs = tuple(o if isinstance(o, OutputIR) else OutputIR(name=o, shape=next(n.shape for n in nodes if n.name == o),
                                                             loss={"type": "mse"}) for o in outputs)
    return ModelIR(
        name="t", inputs=tuple(inputs or [n.name for n in nodes if n.op == "input"]), nodes=tuple(nodes), outputs=outs,
        training=TrainingIR(optimizer=optimizer_ir(optimizer), batch_size=4, validation_batch_size=4, epochs=1, seed=seed),
    )


def random_weights(ir: ModelIR, seed=0, scale=0.5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = {}
    for key, _, p in ir.weight_specs():
        if p.name == "moving_variance":
            w[key] = rng.uniform(0.5, 2.0, p.shape)
        elif p.name == "gamma":
            w[key] = rng.uniform(0.5, 1.5, p.shape)
        else:
            w[key] = rng.normal(0.0, scale, p.shape)
    return w


def gradient_check(ir, inputs, targets, *, training=True, masks=None, sample_weight=None, seed=0, weights=None,
                   eps=1e-6, rtol=1e-6, atol=1e-7):
    """Compare the analytic gradients with central differences of the float64 model's total loss."""
    model = NumpyModel(ir, weights if weights is not None else random_weights(ir, seed), dtype=np.float64)

    def loss():
        return model.loss_and_gradients(inputs, targets, sample_weight=sample_weight, training=training,
                                        dropout_masks=masks)[0]["loss"]

    _, grads = model.loss_and_gradients(inputs, targets, sample_weight=sample_weight, training=training,
                                        dropout_masks=masks)
    assert set(grads) == {k for k, _, p in ir.weight_specs() if p.trainable}
    checked = 0
    for key, g in grads.items():
        w = model.weights[key]
        assert g.shape == w.shape and g.dtype == np.float64
        numeric = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            old = w[i]
            w[i] = old + eps
            up = loss()
            w[i] = old - eps
            down = loss()
            w[i] = old
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=rtol, atol=atol, err_msg=key)
        checked += w.size
    assert checked > 0
    return model


rng0 = np.random.default_rng(42)
X4 = rng0.normal(size=(5, 4))           # 5 samples, 4 features
Y3 = rng0.normal(size=(5, 3))


# ---------------------------------------------------------------------------
# The backend object
# ---------------------------------------------------------------------------

RECURRENT = {"simple_rnn", "lstm", "gru", "bidirectional", "embedding"}


def test_backend_declares_exactly_the_ops_it_implements():
    backend = NumpyBackend()
    assert backend.name == "numpy" and backend.artifact_suffix == ".npz"
    # every core op but the convolutional-network ones (issue 16) and the recurrent ones (issue 17), which this
    # example does not implement (it declares them unsupported; dnnc reports them)
    missing = {"conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "global_max_pool1d",
               "global_max_pool2d", "global_avg_pool1d", "global_avg_pool2d", "zero_padding2d", "upsampling2d",
               "layer_norm", "spatial_dropout2d"} | RECURRENT
    assert backend.supported_ops == frozenset(LAYERS) == CORE_OPS - missing
    ok, detail = backend.status()
    assert ok and detail.startswith("numpy ")


def test_every_dnnc_activation_and_optimizer_is_implemented():
    assert set(ACTIVATIONS) == set(ACTIVATION_NAMES)
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "nadam", "adamax", "rmsprop", "adagrad", "adadelta"}


def test_build_rejects_an_unknown_op_naming_it():
    from dnnc.compiler.ops import OpAttrs

    class Conv9dAttrs(OpAttrs):
        """An op some other plugin defines."""

    ir = model_ir([inp("x", (4,)), N("c", "conv9d", ("x",), (4,), Conv9dAttrs())], ["c"])
    with pytest.raises(BackendError, match="'conv9d'.*'c'"):
        NumpyBackend().build(ir, {})


def test_build_rejects_wrong_weights():
    ir = model_ir([inp("x", (4,)), dense("d", "x", 4, 3)], ["d"])
    w = random_weights(ir)
    w["d/kernel"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match="d/kernel"):
        NumpyBackend().build(ir, w)


def test_model_follows_the_protocol():
    ir = model_ir([inp("x", (4,)), dense("d", "x", 4, 3)], ["d"])
    model = NumpyBackend().build(ir, random_weights(ir))
    assert isinstance(model, CompiledModel)
    assert model.layer_param_counts() == {"x": (0, 0), "d": (15, 0)}
    assert "dense(units=3" in model.summary()
    out = model.forward({"x": X4.astype(np.float32)})["d"]
    assert out.dtype == np.float32 and out.shape == (5, 3)


# ---------------------------------------------------------------------------
# Gradient checks: activations, ops
# ---------------------------------------------------------------------------

ACT_SPECS = [{"type": a} for a in ACTIVATION_NAMES if a not in ("leaky_relu", "elu", "gelu")] + [
    {"type": "leaky_relu", "negative_slope": 0.2}, {"type": "elu", "alpha": 0.7},
    {"type": "gelu", "approximate": False}, {"type": "gelu", "approximate": True},
]


@pytest.mark.parametrize("act", ACT_SPECS, ids=lambda a: "-".join(str(v) for v in a.values()))
def test_gradient_dense_with_activation(act):
    ir = model_ir([inp("x", (4,)), dense("h", "x", 4, 5, act), dense("o", "h", 5, 3)], ["o"])
    # Spread pre-activations over [-8, 8] so every piece of relu6/hard_sigmoid/... is exercised.
    gradient_check(ir, {"x": 3.0 * X4}, {"o": Y3}, weights=random_weights(ir, scale=1.0))


@pytest.mark.parametrize("act", ACT_SPECS, ids=lambda a: "-".join(str(v) for v in a.values()))
def test_gradient_activation_layer(act):
    ir = model_ir([inp("x", (4,)), dense("h", "x", 4, 5), N("a", "activation", ("h",), (5,), {"activation": act}),
                   dense("o", "a", 5, 3)], ["o"])
    gradient_check(ir, {"x": 3.0 * X4}, {"o": Y3}, weights=random_weights(ir, scale=1.0))


def test_activation_values_at_known_points():
    x = np.array([-4.0, -1.0, 0.0, 0.5, 3.0, 7.0])
    expect = {
        "relu": np.maximum(x, 0), "relu6": np.clip(x, 0, 6), "sigmoid": 1 / (1 + np.exp(-x)), "tanh": np.tanh(x),
        "hard_sigmoid": np.clip(x + 3, 0, 6) / 6, "softplus": np.log1p(np.exp(x)), "softsign": x / (1 + np.abs(x)),
        "swish": x / (1 + np.exp(-x)), "silu": x / (1 + np.exp(-x)),
        "mish": x * np.tanh(np.log1p(np.exp(x))),
        "selu": np.where(x < 0, 1.0507009873554805 * 1.6732632423543772 * (np.exp(x) - 1), 1.0507009873554805 * x),
    }
    for name, y in expect.items():
        np.testing.assert_allclose(make_activation({"type": name}).forward(x), y, rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(make_activation({"type": "leaky_relu", "negative_slope": 0.2}).forward(x),
                               np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(make_activation({"type": "elu", "alpha": 0.7}).forward(x),
                               np.where(x > 0, x, 0.7 * (np.exp(x) - 1)))
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(make_activation({"type": "gelu", "approximate": False}).forward(x), exact, rtol=1e-14)
    # float32 in, float32 out
    assert make_activation({"type": "gelu", "approximate": False}).forward(x.astype(np.float32)).dtype == np.float32
    # the kinks take TF/torch's choices: relu'(0) = 0, selu'(0) = scale
    dy = np.ones(3)
    z = np.array([0.0, 0.0, 0.0])
    assert make_activation({"type": "relu"}).backward(z, z, dy).tolist() == [0, 0, 0]
    assert make_activation({"type": "selu"}).backward(z, z, dy)[0] == pytest.approx(1.0507009873554805)
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        make_activation({"type": "rleu"})
    with pytest.raises(ValueError, match="negative_slope"):
        make_activation({"type": "leaky_relu"})


def test_gradient_maxout_and_tie_split():
    ir = model_ir([inp("x", (4,)), N("m", "maxout", ("x",), (3,), {"units": 3, "pieces": 2, "use_bias": True},
                                    [P("kernel", (4, 6)), P("bias", (6,))]), dense("o", "m", 3, 3)], ["o"])
    gradient_check(ir, {"x": X4}, {"o": Y3})
    # A tie: both pieces of unit 0 equal -> each gets half of the gradient (like TF reduce_max / torch amax).
    from dnnc_numpy.layers import Maxout
    layer = Maxout(ir.node("m"), {"kernel": np.eye(4, 6), "bias": np.zeros(6)}, None)
    x = np.array([[2.0, 2.0, 1.0, 3.0]])  # z = [2, 2, 1, 3, 0, 0]
    y, cache = layer.forward([x], True)
    assert y.tolist() == [[2.0, 3.0, 0.0]]
    _, grads = layer.backward(np.array([[1.0, 1.0, 1.0]]), cache, [False])
    assert grads["bias"].tolist() == [0.5, 0.5, 0.0, 1.0, 0.5, 0.5]


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("training", [True, False])
def test_gradient_batch_norm(center, scale, training):
    ir = model_ir([inp("x", (4,)), dense("h", "x", 4, 3), batch_norm("bn", "h", 3, center=center, scale=scale),
                   dense("o", "bn", 3, 3, "tanh")], ["o"])
    gradient_check(ir, {"x": X4}, {"o": Y3}, training=training)


def test_gradient_batch_norm_rank3_normalises_the_last_axis():
    ir = model_ir([inp("x", (2, 4)), dense("h", "x", 4, 3, lead=(2,)), batch_norm("bn", "h", 3, lead=(2,)),
                   N("f", "flatten", ("bn",), (6,)), dense("o", "f", 6, 3)], ["o"])
    x = np.random.default_rng(1).normal(size=(5, 2, 4))
    gradient_check(ir, {"x": x}, {"o": Y3})


def test_batch_norm_values_and_moving_statistics():
    ir = model_ir([inp("x", (3,)), batch_norm("bn", "x", 3, momentum=0.9, epsilon=1e-3)], ["bn"])
    w = {"bn/gamma": np.array([1.0, 2.0, 0.5]), "bn/beta": np.array([0.0, 1.0, -1.0]),
         "bn/moving_mean": np.array([0.1, 0.2, 0.3]), "bn/moving_variance": np.array([1.0, 2.0, 3.0])}
    model = NumpyModel(ir, w, dtype=np.float64)
    x = np.random.default_rng(3).normal(2.0, 3.0, size=(8, 3))
    mean, var = x.mean(0), x.var(0)  # biased
    y = model.forward({"x": x}, training=True)["bn"]
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * w["bn/gamma"] + w["bn/beta"], rtol=1e-12)
    got = model.get_weights()
    np.testing.assert_allclose(got["bn/moving_mean"], 0.9 * np.array([0.1, 0.2, 0.3]) + 0.1 * mean, rtol=1e-6)
    np.testing.assert_allclose(got["bn/moving_variance"], 0.9 * np.array([1.0, 2.0, 3.0]) + 0.1 * var, rtol=1e-6)
    # inference uses the moving statistics and changes nothing
    mm, mv = model.weights["bn/moving_mean"].copy(), model.weights["bn/moving_variance"].copy()
    y = model.forward({"x": x})["bn"]
    np.testing.assert_allclose(y, (x - mm) / np.sqrt(mv + 1e-3) * w["bn/gamma"] + w["bn/beta"], rtol=1e-12)
    assert np.array_equal(model.weights["bn/moving_mean"], mm)
    # a batch of one gives beta (Keras's behaviour), not an error
    np.testing.assert_allclose(model.forward({"x": x[:1]}, training=True)["bn"], w["bn/beta"][None], atol=1e-12)


def test_gradient_dropout_with_masks():
    ir = model_ir([inp("x", (4,)), dense("h", "x", 4, 6, "relu"), N("d", "dropout", ("h",), (6,), {"rate": 0.4}),
                   dense("o", "d", 6, 3)], ["o"])
    mask = (np.random.default_rng(5).random((5, 6)) > 0.4).astype(np.float32)
    gradient_check(ir, {"x": X4}, {"o": Y3}, masks={"d": mask})


def test_dropout_values():
    ir = model_ir([inp("x", (200,)), N("d", "dropout", ("x",), (200,), {"rate": 0.25})], ["d"], seed=7)
    x = np.ones((50, 200), np.float32)
    model = NumpyBackend().build(ir, {})
    mask = (np.arange(50 * 200).reshape(50, 200) % 3 == 0).astype(np.float32)
    np.testing.assert_array_equal(model.forward({"x": x}, training=True, dropout_masks={"d": mask})["d"], mask / 0.75)
    np.testing.assert_array_equal(model.forward({"x": x})["d"], x)  # inference: identity
    own = model.forward({"x": x}, training=True)["d"]  # the model's own generator
    assert set(np.unique(own).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs((own > 0).mean() - 0.75) < 0.02
    again = NumpyBackend().build(ir, {}).forward({"x": x}, training=True)["d"]
    np.testing.assert_array_equal(own, again)  # seeded from the spec's seed
    with pytest.raises(ValueError, match="not dropout layers"):
        model.forward({"x": x}, training=True, dropout_masks={"x": mask})


def test_gradient_flatten_reshape():
    ir = model_ir([inp("x", (2, 3)), N("r", "reshape", ("x",), (3, 2), {"shape": [3, 2]}),
                   dense("h", "r", 2, 4, "tanh", lead=(3,)), N("f", "flatten", ("h",), (12,)),
                   dense("o", "f", 12, 3)], ["o"])
    x = np.random.default_rng(2).normal(size=(5, 2, 3))
    gradient_check(ir, {"x": x}, {"o": Y3})


@pytest.mark.parametrize("axis", [-1, -2])
def test_gradient_concatenate(axis):
    nodes = [inp("x", (2, 4)), dense("a", "x", 4, 3, "tanh", lead=(2,)), dense("b", "x", 4, 3, "sigmoid", lead=(2,))]
    if axis == -1:
        nodes.append(N("c", "concatenate", ("a", "b", "x"), (2, 10), {"axis": -1}))
        nodes += [N("f", "flatten", ("c",), (20,)), dense("o", "f", 20, 3)]
    else:
        nodes.append(N("c", "concatenate", ("a", "b"), (4, 3), {"axis": -2}))
        nodes += [N("f", "flatten", ("c",), (12,)), dense("o", "f", 12, 3)]
    ir = model_ir(nodes, ["o"])
    gradient_check(ir, {"x": np.random.default_rng(4).normal(size=(5, 2, 4))}, {"o": Y3})


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "average", "maximum", "minimum"])
def test_gradient_merges(op):
    k = 2 if op == "subtract" else 3
    branches = [dense(f"b{i}", "x", 4, 3, ["tanh", "linear", "sigmoid"][i]) for i in range(k)]
    ir = model_ir([inp("x", (4,)), *branches, N("m", op, [b.name for b in branches], (3,)), dense("o", "m", 3, 3)], ["o"])
    gradient_check(ir, {"x": X4}, {"o": Y3})


def test_merge_values_and_ties():
    ir = model_ir([inp("a", (3,)), inp("b", (3,)), inp("c", (3,))]
                  + [N(op, op, ("a", "b", "c"), (3,)) for op in ("add", "multiply", "average", "maximum", "minimum")]
                  + [N("subtract", "subtract", ("a", "b"), (3,))],
                  ["add", "multiply", "average", "maximum", "minimum", "subtract"])
    a, b, c = np.array([[1.0, -2.0, 3.0]]), np.array([[4.0, 5.0, -6.0]]), np.array([[0.5, 5.0, 2.0]])
    out = NumpyModel(ir, {}, dtype=np.float64).forward({"a": a, "b": b, "c": c})
    np.testing.assert_array_equal(out["add"], a + b + c)
    np.testing.assert_array_equal(out["multiply"], a * b * c)
    np.testing.assert_allclose(out["average"], (a + b + c) / 3)
    np.testing.assert_array_equal(out["maximum"], np.maximum(np.maximum(a, b), c))
    np.testing.assert_array_equal(out["minimum"], np.minimum(np.minimum(a, b), c))
    np.testing.assert_array_equal(out["subtract"], a - b)
    # a tie in maximum sends the whole gradient to the left operand (TensorFlow's where(a >= b, a, b))
    from dnnc_numpy.layers import Maximum
    layer = Maximum(ir.node("maximum"), {}, None)
    y, cache = layer.forward([np.array([2.0]), np.array([2.0])], True)
    dxs, _ = layer.backward(np.array([1.0]), cache, [True, True])
    assert [d.tolist() for d in dxs] == [[1.0], [0.0]]


def test_gradient_shared_value_accumulates_and_unused_branch_is_zero():
    # h feeds two nodes (its gradient is the sum); "dead" reaches no loss (its gradient is zero).
    ir = model_ir([inp("x", (4,)), dense("h", "x", 4, 3, "tanh"), dense("p", "h", 3, 3), dense("q", "h", 3, 3),
                   N("s", "add", ("p", "q", "h"), (3,)), dense("dead", "x", 4, 2), dense("o", "s", 3, 3)], ["o"])
    model = gradient_check(ir, {"x": X4}, {"o": Y3})
    _, grads = model.loss_and_gradients({"x": X4}, {"o": Y3})
    assert not grads["dead/kernel"].any() and not grads["dead/bias"].any()


# ---------------------------------------------------------------------------
# Losses and penalties
# ---------------------------------------------------------------------------

def _out(name, shape, loss, head="linear", weight=1.0):
    return OutputIR(name=name, shape=shape, head=head, loss=loss, loss_weight=weight)


LOSS_CASES = [
    # (id, loss table, head, output activation, target kind)
    ("mse", {"type": "mse"}, "linear", "linear", "regression"),
    ("mae", {"type": "mae"}, "linear", "linear", "regression"),
    ("huber", {"type": "huber", "delta": 0.3}, "linear", "linear", "regression"),
    ("mse-sigmoid-head", {"type": "mse"}, "sigmoid", "linear", "unit"),
    ("mse-softmax-head", {"type": "mse"}, "softmax", "linear", "onehot"),
    ("sparse-logits", {"type": "sparse_categorical_crossentropy", "from_logits": True}, "softmax", "linear", "sparse"),
    ("sparse-from-logits", {"type": "sparse_categorical_crossentropy", "from_logits": True}, "linear", "linear", "sparse"),
    ("sparse-probs", {"type": "sparse_categorical_crossentropy", "from_logits": False}, "linear", "softmax", "sparse"),
    ("cce-logits", {"type": "categorical_crossentropy", "label_smoothing": 0.1, "from_logits": True},
     "softmax", "linear", "onehot"),
    ("cce-probs", {"type": "categorical_crossentropy", "label_smoothing": 0.2, "from_logits": False},
     "linear", "softmax", "onehot"),
    ("cce-soft-targets", {"type": "categorical_crossentropy", "label_smoothing": 0.0, "from_logits": True},
     "softmax", "linear", "soft"),
    ("bce-logits", {"type": "binary_crossentropy", "label_smoothing": 0.1, "from_logits": True},
     "sigmoid", "linear", "binary"),
    ("bce-probs", {"type": "binary_crossentropy", "label_smoothing": 0.0, "from_logits": False},
     "linear", "sigmoid", "binary"),
]


def _targets(kind, n, k, rng):
    if kind == "regression":
        return rng.normal(size=(n, k))
    if kind == "unit":
        return rng.random((n, k))
    if kind == "sparse":
        return rng.integers(0, k, n).astype(np.int64)
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, n)]
    if kind == "soft":
        t = rng.random((n, k))
        return t / t.sum(1, keepdims=True)
    return (rng.random((n, k)) > 0.5).astype(np.float64)


@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample-weights"])
def test_gradient_losses(case, weighted):
    _, loss, head, act, kind = case
    rng = np.random.default_rng(11)
    ir = model_ir([inp("x", (4,)), dense("o", "x", 4, 3, act)], [_out("o", (3,), loss, head)])
    y = _targets(kind, 5, 3, rng)
    sw = rng.uniform(0.2, 2.0, 5) if weighted else None
    model = gradient_check(ir, {"x": X4}, {"o": y}, sample_weight=sw)
    # The value matches dnnc's own NumPy definition (test-only oracle), reduction Σ w·ℓ / N.
    numerics = pytest.importorskip("dnnc.numerics")
    out = model.forward({"x": X4})["o"]
    got = model.evaluate_step({"x": X4}, {"o": y}, sample_weight=sw).losses["loss"]
    # (the reference rounds probabilities to float32 before clipping them; this float64 model does not)
    rel = 1e-6 if "probs" in case[0] else 1e-12
    assert got == pytest.approx(numerics.loss_value(loss, head, out, y, sw), rel=rel)


def test_binary_outputs_of_width_one_accept_flat_targets():
    ir = model_ir([inp("x", (4,)), dense("o", "x", 4, 1)],
                  [_out("o", (1,), {"type": "binary_crossentropy", "label_smoothing": 0.0, "from_logits": True}, "sigmoid")])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    gradient_check(ir, {"x": X4}, {"o": y})
    gradient_check(ir, {"x": X4}, {"o": y[:, None]})


def test_extreme_logits_give_exact_finite_losses():
    ir = model_ir([inp("x", (3,))], [_out("x", (3,), {"type": "sparse_categorical_crossentropy", "from_logits": True},
                                          "softmax")])
    model = NumpyBackend().build(ir, {})
    z = np.array([[30.0, 0.0, -30.0], [1.0, 2.0, 3.0], [0.0, 0.0, 40.0]], np.float32)
    loss = model.evaluate_step({"x": z}, {"x": np.array([2, 0, 0])}).losses["loss"]
    assert loss == pytest.approx(34.1359, abs=1e-4)  # Keras/torch from-logits value (docs: keras-vs-torch §5)


def test_gradient_l1_l2_penalties_and_multi_output():
    reg = {"l1": 0.03, "l2": 0.02}
    ir = model_ir([inp("x", (4,)), dense("h", "x", 4, 3, "tanh", kernel_reg=reg), dense("a", "h", 3, 2),
                   dense("b", "h", 3, 3, kernel_reg={"l1": 0.0, "l2": 0.5})],
                  [_out("a", (2,), {"type": "mse"}, weight=0.7),
                   _out("b", (3,), {"type": "sparse_categorical_crossentropy", "from_logits": True}, "softmax", 0.3)])
    y = {"a": np.random.default_rng(1).normal(size=(5, 2)), "b": np.array([0, 2, 1, 1, 0])}
    model = gradient_check(ir, {"x": X4}, y)
    losses, _ = model.loss_and_gradients({"x": X4}, y)
    w = model.weights
    penalty = 0.03 * np.abs(w["h/kernel"]).sum() + 0.02 * (w["h/kernel"] ** 2).sum() + 0.5 * (w["b/kernel"] ** 2).sum()
    assert set(losses) == {"loss", "a_loss", "b_loss"}
    assert losses["loss"] == pytest.approx(0.7 * losses["a_loss"] + 0.3 * losses["b_loss"] + penalty, rel=1e-12)
    # evaluation reports the same total (penalties included, no update)
    assert model.evaluate_step({"x": X4}, y).losses == pytest.approx(model.loss_and_gradients({"x": X4}, y, training=False)[0])


def test_l1_subgradient_at_zero_is_zero():
    ir = model_ir([inp("x", (4,)), dense("o", "x", 4, 3, kernel_reg={"l1": 1.0, "l2": 0.0})], ["o"])
    w = {"o/kernel": np.zeros((4, 3)), "o/bias": np.zeros(3)}
    model = NumpyModel(ir, w, dtype=np.float64)
    _, g = model.loss_and_gradients({"x": np.zeros((2, 4))}, {"o": np.zeros((2, 3))})
    assert not g["o/kernel"].any()


def test_missing_inputs_and_targets_are_clear_errors():
    ir = model_ir([inp("x", (4,)), dense("o", "x", 4, 3)], ["o"])
    model = NumpyBackend().build(ir, random_weights(ir))
    with pytest.raises(ValueError, match=r"inputs must be given for \['x'\]"):
        model.forward({"y": X4})
    with pytest.raises(ValueError, match=r"targets must be given for \['o'\]"):
        model.loss_and_gradients({"x": X4}, {"p": Y3})
    with pytest.raises(BackendError, match="needs an output layer ending in softmax"):
        bad = model_ir([inp("x", (4,)), dense("o", "x", 4, 3)],
                       [_out("o", (3,), {"type": "categorical_crossentropy", "from_logits": False}, "sigmoid")])
        NumpyBackend().build(bad, random_weights(bad))


# ---------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------

def _one_step(spec, w, g, lr, steps=1):
    opt = make_optimizer(optimizer_ir(spec))
    w = np.array(w, dtype=np.float64)
    for _ in range(steps):
        opt.step([("p", w)], [np.array(g, dtype=np.float64)], lr)
    return w, opt


def test_sgd_by_hand():
    w, _ = _one_step({"type": "sgd"}, [1.0, -2.0], [0.5, 0.1], 0.1)
    np.testing.assert_allclose(w, [1.0 - 0.05, -2.0 - 0.01])
    # momentum 0.9, two steps with the same gradient: m1 = -lr·g, m2 = 0.9·m1 - lr·g
    lr = float(np.float32(0.1))
    w, opt = _one_step({"type": "sgd", "momentum": 0.9}, [1.0], [0.5], 0.1, steps=2)
    m1 = -lr * 0.5
    m2 = 0.9 * m1 - lr * 0.5
    np.testing.assert_allclose(w, [1.0 + m1 + m2], rtol=1e-15)
    assert opt.state()["p/momentum"] == pytest.approx(m2) and int(opt.state()["iterations"]) == 2
    # nesterov: w += μ·m - lr·g
    w, _ = _one_step({"type": "sgd", "momentum": 0.9, "nesterov": True}, [1.0], [0.5], 0.1, steps=2)
    np.testing.assert_allclose(w, [1.0 + (0.9 * m1 - lr * 0.5) + (0.9 * m2 - lr * 0.5)], rtol=1e-15)


def test_adam_by_hand():
    # First step: m = 0.1·g, v = 0.001·g², w -= lr·sqrt(1-β2)/(1-β1)·m/(sqrt(v)+ε) ≈ lr·sign(g)
    w, opt = _one_step({"type": "adam", "learning_rate": 1e-3}, [1.0, -1.0], [0.5, -2.0], 1e-3)
    lr = float(np.float32(1e-3))
    alpha = lr * math.sqrt(1 - 0.999) / (1 - 0.9)
    for w0, g, got in zip([1.0, -1.0], [0.5, -2.0], w):
        assert got == pytest.approx(w0 - alpha * 0.1 * g / (math.sqrt(0.001 * g * g) + 1e-7), rel=1e-14)
    assert w[0] == pytest.approx(0.999, abs=1e-8)  # keras-vs-torch §6: w=1, g=0.5 gives 0.999 (lr, ε shift it by 6e-9)
    assert set(opt.state()) == {"p/m", "p/v", "iterations"}


def test_rmsprop_and_adagrad_by_hand():
    lr = float(np.float32(0.01))
    w, _ = _one_step({"type": "rmsprop", "learning_rate": 0.01}, [1.0], [0.5], 0.01)
    assert w[0] == pytest.approx(1.0 - lr * 0.5 / math.sqrt(0.1 * 0.25 + 1e-7), rel=1e-14)  # ε inside the sqrt
    w, _ = _one_step({"type": "rmsprop", "rho": 0.8, "momentum": 0.5, "centered": True}, [1.0], [0.5], 0.01, steps=2)
    v1, a1 = 0.2 * 0.25, 0.2 * 0.5
    b1 = lr * 0.5 / math.sqrt(v1 - a1 * a1 + 1e-7)
    v2, a2 = 0.8 * v1 + 0.2 * 0.25, 0.8 * a1 + 0.2 * 0.5
    b2 = 0.5 * b1 + lr * 0.5 / math.sqrt(v2 - a2 * a2 + 1e-7)
    assert w[0] == pytest.approx(1.0 - b1 - b2, rel=1e-14)
    w, _ = _one_step({"type": "adagrad", "learning_rate": 0.01}, [1.0], [0.5], 0.01, steps=2)
    step1 = lr * 0.5 / math.sqrt(0.1 + 0.25 + 1e-7)
    step2 = lr * 0.5 / math.sqrt(0.1 + 0.5 + 1e-7)
    assert w[0] == pytest.approx(1.0 - step1 - step2, rel=1e-14)


def test_clipping_and_weight_decay_order_by_hand():
    lr = float(np.float32(0.1))
    # clipnorm per variable: ‖(3, 4)‖ = 5 -> scaled to norm 1
    w, _ = _one_step({"type": "sgd", "learning_rate": 0.1, "clipnorm": 1.0}, [0.0, 0.0], [3.0, 4.0], 0.1)
    np.testing.assert_allclose(w, [-lr * 0.6, -lr * 0.8])
    # global_clipnorm over both variables: ‖G‖ = sqrt(3² + 4²) = 5
    opt = make_optimizer(optimizer_ir({"type": "sgd", "global_clipnorm": 2.5}))
    a, b = np.zeros(1), np.zeros(1)
    opt.step([("a", a), ("b", b)], [np.array([3.0]), np.array([4.0])], 0.1)
    np.testing.assert_allclose([a[0], b[0]], [-lr * 1.5, -lr * 2.0])
    # a non-finite global norm makes every update NaN (as Keras)
    a = np.zeros(1)
    opt.step([("a", a), ("b", b)], [np.array([np.inf]), np.array([4.0])], 0.1)
    assert np.isnan(a).all()
    # clipvalue element-wise
    w, _ = _one_step({"type": "sgd", "clipvalue": 0.5}, [0.0, 0.0, 0.0], [3.0, -0.2, -4.0], 0.1)
    np.testing.assert_allclose(w, [-lr * 0.5, lr * 0.2, lr * 0.5])
    # decoupled weight decay BEFORE the update: w ← w − w·wd·lr, then w ← w − lr·g
    w, _ = _one_step({"type": "sgd", "weight_decay": 0.5}, [2.0], [1.0], 0.1)
    assert w[0] == pytest.approx((2.0 - 2.0 * 0.5 * lr) - lr * 1.0, rel=1e-15)
    # ...and it does not enter Adam's moments (AdamW default 0.004)
    w, opt = _one_step({"type": "adamw"}, [2.0], [1.0], 1e-3)
    lr3 = float(np.float32(1e-3))
    alpha = lr3 * math.sqrt(1 - 0.999) / (1 - 0.9)
    assert w[0] == pytest.approx(2.0 - 2.0 * 0.004 * lr3 - alpha * 0.1 / (math.sqrt(0.001) + 1e-7), rel=1e-14)
    assert opt.state()["p/m"] == pytest.approx(0.1)


OPTIMIZER_SPECS = [
    {"type": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"type": "sgd", "clipnorm": 0.05},
    {"type": "adam", "global_clipnorm": 0.1},
    {"type": "adam", "amsgrad": True, "clipvalue": 0.01},
    {"type": "adamw"},
    {"type": "nadam", "weight_decay": 0.02},
    {"type": "adamax"},
    {"type": "rmsprop", "momentum": 0.5, "centered": True},
    {"type": "rmsprop"},
    {"type": "adagrad", "clipnorm": 0.1},
    {"type": "adadelta", "learning_rate": 1.0},
]


@pytest.mark.parametrize("spec", OPTIMIZER_SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_optimizer_trajectory_matches_dnnc_reference(spec):
    """10 steps with a decaying lr on float64 parameters agree with dnnc.numerics to 1e-12."""
    numerics = pytest.importorskip("dnnc.numerics")
    config = optimizer_ir(spec)
    ours, ref = make_optimizer(config), numerics.make_reference_optimizer(config)
    rng = np.random.default_rng(0)
    mine = [("a", rng.normal(size=(3, 2))), ("b", rng.normal(size=2))]
    theirs = {k: v.copy() for k, v in mine}
    for step in range(10):
        grads = [rng.normal(scale=0.1, size=w.shape) for _, w in mine]
        lr = 0.05 * 0.8**step
        ours.step(mine, grads, lr)
        ref.step(theirs, {k: g for (k, _), g in zip(mine, grads)}, lr)
    for k, w in mine:
        np.testing.assert_allclose(w, theirs[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_train_step_uses_the_given_learning_rate_and_reports_pre_update_outputs():
    ir = model_ir([inp("x", (4,)), dense("o", "x", 4, 3)], ["o"], optimizer={"type": "sgd", "learning_rate": 123.0})
    w = random_weights(ir)
    model = NumpyBackend().build(ir, w)
    x, y = X4.astype(np.float32), Y3.astype(np.float32)
    before = model.forward({"x": x})["o"]
    losses, grads = model.loss_and_gradients({"x": x}, {"o": y})
    result = model.train_step({"x": x}, {"o": y}, learning_rate=0.05)
    assert isinstance(result, StepResult)
    assert result.losses["loss"] == pytest.approx(losses["loss"], rel=1e-6)
    np.testing.assert_allclose(result.outputs["o"], before, rtol=1e-6)
    lr = np.float32(0.05)
    np.testing.assert_allclose(model.get_weights()["o/kernel"], w["o/kernel"].astype(np.float32) - lr * grads["o/kernel"],
                               rtol=1e-6, atol=1e-7)
    assert int(model.optimizer_state()["iterations"]) == 1


def test_training_reduces_the_loss_on_xor():
    ir = model_ir([inp("x", (2,)), dense("h", "x", 2, 8, "tanh"), dense("o", "h", 8, 1)],
                  [_out("o", (1,), {"type": "binary_crossentropy", "label_smoothing": 0.0, "from_logits": True},
                        "sigmoid")], optimizer={"type": "adam", "learning_rate": 0.05})
    model = NumpyBackend().build(ir, {k: v.astype(np.float32) for k, v in random_weights(ir, scale=1.0).items()})
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    first = model.evaluate_step({"x": x}, {"o": y}).losses["loss"]
    for _ in range(300):
        model.train_step({"x": x}, {"o": y}, learning_rate=0.05)
    last = model.evaluate_step({"x": x}, {"o": y})
    assert last.losses["loss"] < 0.05 < first
    assert ((last.outputs["o"] > 0) == (y > 0.5)).all()


# ---------------------------------------------------------------------------
# Artifact
# ---------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    ir = model_ir([inp("x", (4,)), dense("h", "x", 4, 5, {"type": "leaky_relu", "negative_slope": 0.2}),
                   batch_norm("bn", "h", 5), N("d", "dropout", ("bn",), (5,), {"rate": 0.5}), dense("o", "d", 5, 3)],
                  ["o"], optimizer={"type": "adam"})
    backend = NumpyBackend()
    model = backend.build(ir, random_weights(ir))
    x, y = X4.astype(np.float32), Y3.astype(np.float32)
    model.train_step({"x": x}, {"o": y}, learning_rate=0.01)
    path = tmp_path / "sub" / "model.npz"
    assert model.save(path) == [path]
    assert path.is_file()
    with np.load(path, allow_pickle=False) as data:  # readable without pickle
        assert str(data["__format__"]) == "dnnc-numpy"
        assert ModelIR.from_json(str(data["__ir__"])) == ir
        assert data["weights/bn/moving_variance"].dtype == np.float32
    with zipfile.ZipFile(path) as z:
        assert "weights/h/kernel.npy" in z.namelist()
    loaded = backend.load(path)
    assert loaded.ir == ir
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[k], v, err_msg=k)
    np.testing.assert_array_equal(loaded.forward({"x": x})["o"], model.forward({"x": x})["o"])
    # a path without the suffix is written as given (numpy would otherwise append .npz)
    bare = tmp_path / "bare"
    model.save(bare)
    assert bare.is_file() and backend.load(bare).ir == ir


def test_load_errors(tmp_path):
    backend = NumpyBackend()
    with pytest.raises(BackendError, match="no such file"):
        backend.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(2))
    with pytest.raises(BackendError, match="not a dnnc numpy artifact"):
        backend.load(other)
