"""The built-in Keras backend against the NumPy reference of the IR (dnnc.reference, the float64 oracle).

Small hand-built IRs cover every core op; outputs, moving statistics, losses and gradients are compared
with the reference, every element within its float32 error bound (tests/support/oracle.py).
Artifacts are reloaded in a fresh interpreter.  Tests that need process-wide
TensorFlow settings (op determinism) run in subprocesses.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
    pytest.skip("the keras backend needs tensorflow and keras", allow_module_level=True)

from dnnc.backends.base import check_supported  # noqa: E402
from dnnc.backends.keras import KerasBackend  # noqa: E402
from dnnc.compiler.initial_weights import initial_weights  # noqa: E402
from dnnc.compiler.ir import ModelIR, NodeIR, OutputIR, ParamIR, TrainingIR  # noqa: E402
from support.oracle import assert_within, oracle  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- IR builders

GLOROT = {"type": "glorot_uniform"}
ZEROS = {"type": "zeros"}
SGD = {"type": "sgd", "learning_rate": 0.1, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0,
       "clipnorm": None, "global_clipnorm": None, "clipvalue": None}
ADAM = {"type": "adam", "learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
        "weight_decay": 0.0, "clipnorm": None, "global_clipnorm": None, "clipvalue": None}
SCE = {"type": "sparse_categorical_crossentropy", "from_logits": False}
MSE = {"type": "mse"}


def inp(name, shape):
    return NodeIR(name=name, op="input", shape=tuple(shape), attrs={"dtype": "float32"})


def dense(name, src, fan_in, units, act=None, reg=None, lead=(), use_bias=True):
    params = [ParamIR(name="kernel", shape=(fan_in, units), trainable=True, init=GLOROT, regularizer=reg)]
    if use_bias:
        params.append(ParamIR(name="bias", shape=(units,), trainable=True, init=ZEROS))
    return NodeIR(name=name, op="dense", inputs=(src,), shape=tuple(lead) + (units,), params=tuple(params),
                  attrs={"units": units, "use_bias": use_bias, "activation": act or {"type": "linear"}})


def maxout(name, src, fan_in, units, pieces, lead=()):
    params = (ParamIR(name="kernel", shape=(fan_in, units * pieces), trainable=True, init=GLOROT),
              ParamIR(name="bias", shape=(units * pieces,), trainable=True, init=ZEROS))
    return NodeIR(name=name, op="maxout", inputs=(src,), shape=tuple(lead) + (units,), params=params,
                  attrs={"units": units, "pieces": pieces, "use_bias": True})


def bn(name, src, c, momentum=0.9, epsilon=1e-3, center=True, scale=True, lead=()):
    params = []
    if scale:
        params.append(ParamIR(name="gamma", shape=(c,), trainable=True, init={"type": "ones"}))
    if center:
        params.append(ParamIR(name="beta", shape=(c,), trainable=True, init=ZEROS))
    params += [ParamIR(name="moving_mean", shape=(c,), trainable=False, init=ZEROS),
               ParamIR(name="moving_variance", shape=(c,), trainable=False, init={"type": "ones"})]
    return NodeIR(name=name, op="batch_norm", inputs=(src,), shape=tuple(lead) + (c,), params=tuple(params),
                  attrs={"axis": -1, "momentum": momentum, "epsilon": epsilon, "center": center, "scale": scale,
                         "inference_mode": False})


def node(name, op, srcs, out_shape, **attrs):
    return NodeIR(name=name, op=op, inputs=tuple(srcs), attrs=attrs, shape=tuple(out_shape))


def training(opt=SGD, seed=0, strict=False):
    return TrainingIR(optimizer=opt, batch_size=8, validation_batch_size=8, epochs=1, seed=seed, strict_parity=strict)


def every_op_ir(seed=0, opt=SGD) -> ModelIR:
    """Two inputs, two outputs (one with a loss weight); every core op at least once."""
    merges = ["add", "subtract", "multiply", "average", "maximum", "minimum"]
    nodes = [
        inp("x", (6,)), inp("img", (2, 3)),
        dense("fc1", "x", 6, 8, {"type": "relu"}, reg={"l1": 0.01, "l2": 0.02}),
        bn("bn1", "fc1", 8, momentum=0.9, epsilon=1e-3),
        node("leaky", "activation", ["bn1"], (8,), activation={"type": "leaky_relu", "negative_slope": 0.1}),
        node("drop", "dropout", ["leaky"], (8,), rate=0.25),
        maxout("mo", "drop", 8, 4, 3),
        node("flat", "flatten", ["img"], (6,)),
        dense("fc2", "flat", 6, 4, {"type": "elu", "alpha": 0.7}),
        node("add", "add", ["mo", "fc2", "mo"], (4,)),
        *[node(m, m, ["mo", "fc2"], (4,)) for m in merges[1:]],
        node("cat", "concatenate", merges, (24,), axis=-1),
        node("rs", "reshape", ["cat"], (4, 6), shape=[4, 6]),
        dense("fc3", "rs", 6, 3, {"type": "gelu", "approximate": False}, lead=(4,)),
        bn("bn3", "fc3", 3, momentum=0.8, epsilon=1e-2, center=False, scale=False, lead=(4,)),
        maxout("mo3", "bn3", 3, 2, 2, lead=(4,)),
        node("flat2", "flatten", ["mo3"], (8,)),
        dense("out", "flat2", 8, 3),
        dense("aux", "cat", 24, 2, use_bias=False),
    ]
    outputs = (OutputIR(name="out", shape=(3,), head="softmax", loss=SCE, target="sparse"),
               OutputIR(name="aux", shape=(2,), head="linear", loss=MSE, loss_weight=0.5, target="regression"))
    return ModelIR(name="every_op", inputs=("x", "img"), nodes=tuple(nodes), outputs=outputs,
                   training=training(opt, seed))


ACTIVATIONS = [
    {"type": "linear"}, {"type": "relu"}, {"type": "relu6"}, {"type": "leaky_relu", "negative_slope": 0.05},
    {"type": "elu", "alpha": 0.5}, {"type": "selu"}, {"type": "gelu", "approximate": False},
    {"type": "gelu", "approximate": True}, {"type": "sigmoid"}, {"type": "hard_sigmoid"}, {"type": "tanh"},
    {"type": "softmax"}, {"type": "softplus"}, {"type": "softsign"}, {"type": "swish"}, {"type": "silu"},
    {"type": "mish"},
]


def activations_ir() -> ModelIR:
    nodes = [inp("x", (9,))]
    for i, act in enumerate(ACTIVATIONS):
        nodes.append(node(f"a{i}_{act['type']}", "activation", ["x"], (9,), activation=act))
    outputs = tuple(OutputIR(name=n.name, shape=(9,)) for n in nodes[1:])
    return ModelIR(name="acts", inputs=("x",), nodes=tuple(nodes), outputs=outputs)


def mlp_ir(sizes=(12, 16, 8, 5), opt=SGD, seed=0, dropout=None) -> ModelIR:
    nodes = [inp("x", (sizes[0],))]
    prev, fan = "x", sizes[0]
    for i, u in enumerate(sizes[1:-1]):
        nodes += [dense(f"fc{i}", prev, fan, u), bn(f"bn{i}", f"fc{i}", u, momentum=0.9, epsilon=1e-3),
                  node(f"relu{i}", "activation", [f"bn{i}"], (u,), activation={"type": "relu"})]
        prev, fan = f"relu{i}", u
        if dropout:
            nodes.append(node(f"drop{i}", "dropout", [prev], (u,), rate=dropout))
            prev = f"drop{i}"
    nodes.append(dense("out", prev, fan, sizes[-1]))
    out = OutputIR(name="out", shape=(sizes[-1],), head="softmax", loss=SCE, target="sparse")
    return ModelIR(name="mlp", inputs=("x",), nodes=tuple(nodes), outputs=(out,), training=training(opt, seed))


def perturbed_weights(ir: ModelIR, seed=1) -> dict[str, np.ndarray]:
    """Canonical initial weights with non-trivial biases and batch-norm parameters/statistics."""
    rng = np.random.default_rng(seed)
    w = initial_weights(ir)
    for key, value in w.items():
        name = key.rsplit("/", 1)[1]
        if name in ("bias", "beta", "moving_mean"):
            w[key] = rng.normal(0, 0.3, value.shape).astype(np.float32)
        elif name in ("gamma", "moving_variance"):
            w[key] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
    return w


def every_op_batch(n=8, seed=2):
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.normal(size=(n, 6)).astype(np.float32), "img": rng.normal(size=(n, 2, 3)).astype(np.float32)}
    targets = {"out": rng.integers(0, 3, n).astype(np.int64), "aux": rng.normal(size=(n, 2)).astype(np.float32)}
    masks = {"drop": (rng.random((n, 8)) > 0.25).astype(np.float32)}
    return inputs, targets, masks


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module", autouse=True)
def no_xla_by_default():
    """XLA compilation costs 1–2 s per batch size; only the tests that check the XLA path turn it on."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DNNC_KERAS_JIT_COMPILE", "0")
        yield


@pytest.fixture
def xla(monkeypatch):
    monkeypatch.setenv("DNNC_KERAS_JIT_COMPILE", "1")  # XLA on (off by default; never with op determinism)


@pytest.fixture(scope="module")
def backend():
    b = KerasBackend()
    ok, detail = b.status()
    if not ok:
        pytest.skip(detail)
    return b


@pytest.fixture(scope="module")
def every_op(backend):
    ir = every_op_ir()
    weights = perturbed_weights(ir)
    return ir, weights, backend.build(ir, weights)


# --------------------------------------------------------------------------- tests

def test_plugin_and_status_do_not_import_the_framework():
    code = textwrap.dedent("""
        import sys
        from dnnc.backends.keras import plugin
        (backend,) = plugin.dnnc_backends()
        ok, detail = backend.status()
        print(ok, detail, backend.name, backend.artifact_suffix, sorted(backend.supported_ops))
        assert "keras" not in sys.modules and "tensorflow" not in sys.modules, "framework imported"
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True keras 3.") and " keras .keras " in out.stdout


def test_supported_ops_are_the_core_ops(backend):
    from dnnc.compiler.lower_layers import CORE_OPS

    assert backend.supported_ops == CORE_OPS
    check_supported(backend, every_op_ir())  # every op of the test graph is declared


def test_forward_inference_matches_the_reference(every_op):
    ir, weights, model = every_op
    inputs, _, _ = every_op_batch()
    got = model.forward(inputs)
    assert set(got) == {"out", "aux"}
    assert all(v.dtype == np.float32 for v in got.values())
    assert_within("inference", got, oracle(ir, weights, inputs).outputs)


def test_forward_training_uses_batch_stats_masks_and_updates_moving_stats_once(backend):
    ir = every_op_ir()
    weights = perturbed_weights(ir)
    model = backend.build(ir, weights)
    inputs, _, masks = every_op_batch()
    got = model.forward(inputs, training=True, dropout_masks=masks)
    want = oracle(ir, weights, inputs, training=True, masks=masks)
    assert_within("training", got, want.outputs)
    after = model.get_weights()
    assert set(want.moving) == {"bn1/moving_mean", "bn1/moving_variance", "bn3/moving_mean", "bn3/moving_variance"}
    assert_within("moving statistics", after, want.moving)  # momentum·old + (1 − momentum)·batch, biased variance
    for key, value in weights.items():
        if key not in want.moving:
            np.testing.assert_array_equal(after[key], value)
    # inference afterwards uses the updated moving statistics
    assert_within("inference after", model.forward(inputs), oracle(ir, after, inputs).outputs)


def test_every_activation_with_its_parameters(backend):
    ir = activations_ir()
    model = backend.build(ir, {})
    x = np.array([-8, -6, -3, -1, -1e-3, 0, 0.5, 3, 6.5], np.float32)
    xs = np.stack([x, x[::-1] * 0.7, x * 0.1])
    assert_within("activations", model.forward({"x": xs}), oracle(ir, {}, {"x": xs}).outputs)
    # the layers carry the parameters explicitly
    layers = {layer.name: layer for layer in model.keras_model.layers}
    assert layers["a3_leaky_relu"].negative_slope == pytest.approx(0.05)
    assert layers["a4_elu"].alpha == pytest.approx(0.5)
    assert layers["a11_softmax"].axis == -1


def test_maxout_groups_consecutive_pieces_and_splits_tie_gradients(backend):
    nodes = (inp("x", (1,)), maxout("mo", "x", 1, 2, 3))
    ir = ModelIR(name="mo", inputs=("x",), nodes=nodes, training=training(),
                 outputs=(OutputIR(name="mo", shape=(2,), loss=MSE),))
    kernel = np.array([[1, 5, 2, 1, 1, 0]], np.float32)  # unit 0: pieces 1,5,2 → 5; unit 1: a tie 1,1 and 0
    weights = {"mo/kernel": kernel, "mo/bias": np.zeros(6, np.float32)}
    model = backend.build(ir, weights)
    x = {"x": np.ones((1, 1), np.float32)}
    np.testing.assert_array_equal(model.forward(x)["mo"], [[5, 1]])
    losses, grads = model.loss_and_gradients(x, {"mo": np.zeros((1, 2), np.float32)})
    assert losses["loss"] == pytest.approx((25 + 1) / 2)
    # dL/dy = y (mean over 2 units of y²): unit 0 → the max piece only; unit 1 → split evenly over the tie
    np.testing.assert_allclose(grads["mo/kernel"], [[0, 5, 0, 0.5, 0.5, 0]], atol=1e-6)
    np.testing.assert_allclose(grads["mo/bias"], [0, 5, 0, 0.5, 0.5, 0], atol=1e-6)


def test_layer_param_counts_equal_the_ir(every_op, backend):
    from dnnc.backends.base import Backend, CompiledModel

    ir, _, model = every_op
    assert isinstance(backend, Backend) and isinstance(model, CompiledModel) and model.backend_name == "keras"
    counts = model.layer_param_counts()
    assert counts == {n.name: (n.trainable_count, n.non_trainable_count) for n in ir.nodes}
    assert counts["bn1"] == (16, 16) and counts["bn3"] == (0, 6) and counts["mo"] == (8 * 12 + 12, 0)
    assert model.keras_model.count_params() == ir.param_count


def test_summary_is_keras_own_and_names_layers_like_the_ir(every_op):
    ir, _, model = every_op
    text = model.summary()
    assert 'Model: "every_op"' in text and "Total params" in text
    for n in ir.nodes:
        assert n.name in text
    assert "BatchNormalization" in text and "GlobalMaxPooling1D" in text


def test_get_set_weights_round_trip_and_errors(backend):
    ir = every_op_ir()
    model = backend.build(ir, perturbed_weights(ir))
    other = perturbed_weights(ir, seed=7)
    model.set_weights(other)
    got = model.get_weights()
    assert set(got) == set(other)
    for key in other:
        assert got[key].dtype == np.float32
        np.testing.assert_array_equal(got[key], other[key])
    got["fc1/kernel"][:] = 0  # a copy, not a view of the variable
    assert np.abs(model.get_weights()["fc1/kernel"]).sum() > 0
    with pytest.raises(ValueError, match="shape"):
        model.set_weights({**other, "fc1/kernel": np.zeros((3, 3), np.float32)})
    with pytest.raises(ValueError, match="missing"):
        model.set_weights({k: v for k, v in other.items() if k != "bn1/moving_mean"})


def test_train_step_is_a_manual_sgd_step_and_reports_the_training_pass(backend):
    ir = every_op_ir()
    w0 = perturbed_weights(ir)
    inputs, targets, masks = every_op_batch()
    reference = backend.build(ir, w0)
    losses, grads = reference.loss_and_gradients(inputs, targets, dropout_masks=masks)
    want = oracle(ir, w0, inputs, training=True, masks=masks, targets=targets)
    assert set(want.losses) == {"loss", "out_loss", "aux_loss"}
    assert_within("losses", losses, want.losses)
    assert_within("gradients", grads, want.gradients)

    model = backend.build(ir, w0)
    still = model.train_step(inputs, targets, learning_rate=0.0, dropout_masks=masks)
    for key, _, p in ir.weight_specs():  # lr 0: no trainable parameter moves
        if p.trainable:
            np.testing.assert_array_equal(model.get_weights()[key], w0[key])
    model.set_weights(w0)
    result = model.train_step(inputs, targets, learning_rate=0.05, dropout_masks=masks)
    assert set(result.losses) == {"loss", "out_loss", "aux_loss"}
    assert all(isinstance(v, float) for v in result.losses.values())
    assert_within("step losses", result.losses, want.losses)
    assert_within("step losses at lr 0", still.losses, want.losses)
    assert_within("step outputs", result.outputs, want.outputs)  # logits of the training-mode pass, before the update
    after = model.get_weights()
    for key, _, p in ir.weight_specs():
        if p.trainable:
            np.testing.assert_allclose(after[key], w0[key] - 0.05 * grads[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert_within("moving statistics", after, want.moving)


def test_train_step_xla_functional_path_matches_manual_sgd_without_retracing(backend, monkeypatch):
    ir = mlp_ir()
    w0 = perturbed_weights(ir)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 12)).astype(np.float32), rng.integers(0, 5, 10).astype(np.int64)
    monkeypatch.setenv("DNNC_KERAS_JIT_COMPILE", "0")
    reference = backend.build(ir, w0)
    monkeypatch.setenv("DNNC_KERAS_JIT_COMPILE", "1")
    model = backend.build(ir, w0)
    assert model.jit_compile and not reference.jit_compile
    for n, lr in ((8, 0.1), (2, 0.03), (8, 0.2)):  # full batch, partial batch, full again; lr changes each step
        _, grads = reference.loss_and_gradients({"x": x[:n]}, {"out": y[:n]})
        before = model.get_weights()
        model.train_step({"x": x[:n]}, {"out": y[:n]}, learning_rate=lr)
        after = model.get_weights()
        for key in grads:
            np.testing.assert_allclose(after[key], before[key] - np.float32(lr) * grads[key], rtol=1e-5, atol=1e-6)
        reference.set_weights(after)
    batch = model._batch({"x": x}, {"out": y})
    batch["lr"] = np.float32(0.1)
    assert model._steps.get("train", True, batch).tracing_count == 1


def test_evaluate_step_is_inference_mode_with_sample_weights_and_penalty(every_op):
    ir, weights, model = every_op
    inputs, targets, _ = every_op_batch()
    sw = np.linspace(0.5, 2.0, 8).astype(np.float32)
    before = model.get_weights()
    result = model.evaluate_step(inputs, targets, sample_weight=sw)
    want = oracle(ir, weights, inputs, targets=targets, sample_weight=sw, training=False)
    assert_within("losses", result.losses, want.losses)
    assert_within("outputs", result.outputs, want.outputs)
    after = model.get_weights()
    assert all(np.array_equal(after[k], before[k]) for k in before)  # no moving-statistics update


def test_adam_optimizer_state_uses_canonical_slot_names(backend):
    ir = mlp_ir(opt=ADAM)
    w0 = perturbed_weights(ir)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 12)).astype(np.float32), rng.integers(0, 5, 8).astype(np.int64)
    model = backend.build(ir, w0)
    assert model.optimizer_state() == {}
    _, grads = backend.build(ir, w0).loss_and_gradients({"x": x}, {"out": y})
    model.train_step({"x": x}, {"out": y}, learning_rate=1e-3)
    state = model.optimizer_state()
    trainable = [k for k, _, p in ir.weight_specs() if p.trainable]
    assert set(state) == {f"{k}/{s}" for k in trainable for s in ("m", "v")} | {"iterations"}
    assert int(state["iterations"]) == 1
    for key in trainable:  # first step: m = (1 − β1)·g, v = (1 − β2)·g²
        np.testing.assert_allclose(state[f"{key}/m"], 0.1 * grads[key], rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(state[f"{key}/v"], 0.001 * grads[key] ** 2, rtol=1e-4, atol=1e-12)


def test_dropout_is_inverted_random_in_training_inactive_at_inference_and_honours_masks(backend):
    nodes = (inp("x", (500,)), node("drop", "dropout", ["x"], (500,), rate=0.3))
    ir = ModelIR(name="drop", inputs=("x",), nodes=nodes, outputs=(OutputIR(name="drop", shape=(500,)),),
                 training=training(seed=5))
    model = backend.build(ir, {})
    x = np.full((40, 500), 2.0, np.float32)
    y = model.forward({"x": x}, training=True)["drop"]
    assert set(np.unique(y)) <= {0.0, np.float32(2.0) / np.float32(0.7)}
    assert abs((y > 0).mean() - 0.7) < 0.01  # 20 000 draws: sd 0.003
    y2 = model.forward({"x": x}, training=True)["drop"]
    assert not np.array_equal(y, y2)  # a fresh mask per call
    np.testing.assert_array_equal(model.forward({"x": x})["drop"], x)
    mask = (np.random.default_rng(0).random((40, 500)) > 0.3).astype(np.float32)
    got = model.forward({"x": x}, training=True, dropout_masks={"drop": mask})["drop"]
    np.testing.assert_allclose(got, x * mask / np.float32(0.7), rtol=1e-7)
    np.testing.assert_array_equal(model.forward({"x": x}, dropout_masks={"drop": mask})["drop"], x)
    with pytest.raises(ValueError, match="not dropout layers"):
        model.forward({"x": x}, training=True, dropout_masks={"nope": mask})


def test_same_seed_same_dropout_draws_in_process(backend):
    ir = mlp_ir(dropout=0.4, seed=11)
    w0 = perturbed_weights(ir)
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, 12)).astype(np.float32), rng.integers(0, 5, 8).astype(np.int64)

    def run(model_ir):
        model = backend.build(model_ir, w0)
        losses = [model.train_step({"x": x}, {"out": y}, learning_rate=0.1).losses["loss"] for _ in range(3)]
        return losses, model.get_weights()

    (l1, w1), (l2, w2) = run(ir), run(ir)
    assert l1 == l2 and all(np.array_equal(w1[k], w2[k]) for k in w1)
    l3, _ = run(ir.model_copy(update={"training": training(seed=12)}))
    assert l3 != l1


def _seeded_run(strict: bool) -> tuple[str, bool]:
    """Four training steps of an MLP with dropout (masks only with strict parity): (weights hash, jit_compile)."""
    ir = mlp_ir(dropout=0.4, seed=3)
    ir = ir.model_copy(update={"training": training(seed=3, strict=strict)})
    model = KerasBackend().build(ir, perturbed_weights(ir))
    rng = np.random.default_rng(0)
    for _ in range(4):
        x, y = rng.normal(size=(8, 12)).astype(np.float32), rng.integers(0, 5, 8).astype(np.int64)
        masks = {"drop0": (rng.random((8, 16)) > 0.4).astype(np.float32),
                 "drop1": (rng.random((8, 8)) > 0.4).astype(np.float32)}
        model.train_step({"x": x}, {"out": y}, learning_rate=0.1, dropout_masks=masks if strict else None)
    w = model.get_weights()
    return hashlib.sha256(b"".join(w[k].tobytes() for k in sorted(w))).hexdigest(), model.jit_compile


_DETERMINISM_SCRIPT = """
import json, sys
sys.path[:0] = [{tests!r}, {support!r}]
from test_keras_backend import _seeded_run
free = _seeded_run(False)
strict = [_seeded_run(True), _seeded_run(True)]  # turns on op determinism for the rest of the process
from tensorflow.python.framework.config import is_op_determinism_enabled
print(json.dumps({{"free": free, "strict": strict, "determinism": is_op_determinism_enabled()}}))
"""


def _run_python(code: str, timeout=180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_same_spec_and_seed_give_identical_runs_across_processes(xla):
    proc = _run_python(_DETERMINISM_SCRIPT.format(tests=str(ROOT / "tests" / "backends"), support=str(ROOT / "tests")))
    assert proc.returncode == 0, proc.stderr
    fresh = json.loads(proc.stdout.strip().splitlines()[-1])
    # XLA-compiled, dropout drawn from the seeded per-layer generators: this process == a fresh one
    assert fresh["free"] == list(_seeded_run(False)) and fresh["free"][1] is True
    # strict parity: op determinism on, XLA off, masks from the caller
    assert fresh["determinism"] is True
    assert fresh["strict"][0] == fresh["strict"][1] and fresh["strict"][0][1] is False
    # TensorFlow's start-up and XLA notices (C++ INFO lines such as "I0000 ... port.cc") are silenced
    assert not re.search(r"^I\d{4} ", proc.stderr, re.MULTILINE), proc.stderr
    assert "oneDNN custom operations" not in proc.stderr


def test_the_import_drops_only_tensorflows_startup_notices(tmp_path):
    """TensorFlow writes its oneDNN notice (and absl's line before it) to file descriptor 2 while it loads,
    whatever TF_CPP_MIN_LOG_LEVEL says; the backend's import drops those two lines and passes every other
    one on, in order.  A stand-in `keras` package writes all three the way TensorFlow does."""
    fake = tmp_path / "keras"
    fake.mkdir()
    (fake / "__init__.py").write_text(textwrap.dedent("""
        import os
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
        os.write(2, b"I0000 00:00:1.5 7725 port.cc:153] oneDNN custom operations are on. You may see slightly "
                    b"different numerical results. To turn them off, set `TF_ENABLE_ONEDNN_OPTS=0`.\\n")
        os.write(2, b"E0000 something TensorFlow really wants to say\\n")
        import sys
        print("a Python warning", file=sys.stderr)
    """))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from dnnc.backends.keras.runtime import _import_quietly; "
            "k = _import_quietly(); print(k.__file__)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(fake / "__init__.py")
    assert proc.stderr == "E0000 something TensorFlow really wants to say\na Python warning\n"


def test_a_keras_run_records_whether_tensorflow_runs_onednn(backend):
    from dnnc.runner.records import determinism_settings
    from tensorflow.python.util import _pywrap_util_port

    recorded = determinism_settings(False)["tensorflow"]
    assert recorded["onednn"] is bool(_pywrap_util_port.IsMklEnabled())
    # TensorFlow's own default is kept unless the environment says otherwise
    assert recorded["onednn"] is (os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() not in ("0", "false"))


def test_save_then_load_in_a_fresh_process_gives_identical_predictions(backend, tmp_path):
    ir = every_op_ir()
    weights = perturbed_weights(ir)
    model = backend.build(ir, weights)
    path = tmp_path / "every_op.keras"
    written = model.save(path)
    assert written == [path, tmp_path / "every_op.ir.json"] and all(p.is_file() for p in written)
    assert ModelIR.from_json(written[1].read_text()) == ir
    inputs, _, _ = every_op_batch()
    expected = model.forward(inputs)
    np.savez(tmp_path / "inputs.npz", **inputs)

    acts = backend.build(activations_ir(), {})  # uses the registered gelu_tanh
    acts_path = tmp_path / "acts.keras"
    acts.save(acts_path)
    xs = np.linspace(-4, 4, 27, dtype=np.float32).reshape(3, 9)
    acts_expected = acts.forward({"x": xs})

    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import dnnc
        import keras
        inputs = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        model = keras.saving.load_model({str(path)!r})
        out = model.predict(inputs, verbose=0)
        assert all(type(layer).__module__.startswith("keras.") for layer in model.layers), "non-stock layer"
        np.savez({str(tmp_path / "out.npz")!r}, **out)
        import dnnc.backends.keras.custom_objects  # registers dnnc>gelu_tanh
        acts = keras.saving.load_model({str(acts_path)!r})
        xs = np.linspace(-4, 4, 27, dtype=np.float32).reshape(3, 9)
        np.savez({str(tmp_path / "acts.npz")!r}, **acts.predict(xs, verbose=0))
    """)
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr
    fresh = dict(np.load(tmp_path / "out.npz"))
    assert set(fresh) == {"out", "aux"}
    for name in expected:
        np.testing.assert_allclose(fresh[name], expected[name], rtol=1e-6, atol=1e-6)
    fresh_acts = dict(np.load(tmp_path / "acts.npz"))
    for name in acts_expected:
        np.testing.assert_allclose(fresh_acts[name], acts_expected[name], rtol=1e-6, atol=1e-6)

    loaded = backend.load(path)
    assert loaded.ir == ir
    got = loaded.forward(inputs)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    assert all(np.array_equal(loaded.get_weights()[k], weights[k]) for k in weights)


def test_load_errors_are_clear(backend, tmp_path):
    from dnnc.backends.base import BackendError

    with pytest.raises(BackendError, match="no such file"):
        backend.load(tmp_path / "missing.keras")
    model = backend.build(mlp_ir(), perturbed_weights(mlp_ir()))
    path = tmp_path / "m.keras"
    model.save(path)
    (tmp_path / "m.ir.json").unlink()
    with pytest.raises(BackendError, match="m.ir.json"):
        backend.load(path)
    with pytest.raises(ValueError, match=r"must end in '\.keras'"):
        model.save(tmp_path / "m.h5")


def test_input_and_target_errors_name_what_is_expected(every_op):
    _, _, model = every_op
    inputs, targets, _ = every_op_batch()
    with pytest.raises(ValueError, match=r"inputs must be given for \['x', 'img'\]"):
        model.forward({"x": inputs["x"]})
    with pytest.raises(ValueError, match=r"targets must be given for \['out', 'aux'\]"):
        model.evaluate_step(inputs, {"out": targets["out"]})
    with pytest.raises(ValueError, match=r"input 'img' must have shape \(batch, 2, 3\) \(received \(8, 3, 2\)\)"):
        model.forward({**inputs, "img": inputs["img"].reshape(8, 3, 2)})
    with pytest.raises(ValueError, match=r"the dropout mask of 'drop' must have shape \(batch, \d+\) \(received \(8, 7\)\)"):
        model.forward(inputs, training=True, dropout_masks={"drop": np.ones((8, 7), np.float32)})

