"""The PyTorch backend against a NumPy computation of the IR's math.

Every conformance case (one per op, activation, initializer and loss) is run
through the torch model and through a float64 NumPy interpreter of the IR
written here from the formulas in dnnc.compiler.ir; plus weights round trips,
parameter counts, batch-norm and dropout semantics, the training step, and
artifacts reloaded in a fresh process.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from dnnc.backends.base import BackendError  # noqa: E402
from dnnc.backends.torch import TorchBackend  # noqa: E402
from dnnc.compiler.compile import compile_spec  # noqa: E402
from dnnc.compiler.initial_weights import initial_weights  # noqa: E402
from dnnc.compiler.ir import ModelIR, NodeIR, OutputIR  # noqa: E402
from dnnc.compiler.lower_layers import CORE_OPS  # noqa: E402
from dnnc.conformance.cases import CASES, CASES_BY_NAME  # noqa: E402
from dnnc.conformance.equivalence import Tolerance, compare_arrays, make_batch  # noqa: E402
from dnnc.numerics.losses import loss_value  # noqa: E402

BACKEND = TorchBackend()
TOL = Tolerance("elementwise", atol=1e-5, rtol=1e-5)  # float32 model vs float64 oracle


# ---------------------------------------------------------------------------
# NumPy oracle of the IR (float64)
# ---------------------------------------------------------------------------

_erf = np.vectorize(math.erf)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


NP_ACT = {
    "linear": lambda a, x: x,
    "relu": lambda a, x: np.maximum(x, 0.0),
    "relu6": lambda a, x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda a, x: np.where(x > 0, x, a["negative_slope"] * x),
    "elu": lambda a, x: np.where(x > 0, x, a["alpha"] * np.expm1(x)),
    "selu": lambda a, x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "gelu": lambda a, x: (0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))) if a["approximate"]
                          else 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "sigmoid": lambda a, x: _sigmoid(x),
    "hard_sigmoid": lambda a, x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "tanh": lambda a, x: np.tanh(x),
    "softmax": lambda a, x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
    "softplus": lambda a, x: _softplus(x),
    "softsign": lambda a, x: x / (1 + np.abs(x)),
    "swish": lambda a, x: x * _sigmoid(x),
    "silu": lambda a, x: x * _sigmoid(x),
    "mish": lambda a, x: x * np.tanh(_softplus(x)),
}


def np_forward(ir: ModelIR, w: dict, inputs: dict, *, training: bool = False, masks: dict | None = None):
    """(outputs, moving statistics after the pass) computed in float64 from the IR's formulas."""
    v: dict[str, np.ndarray] = {}
    stats = {}
    for n in ir.nodes:
        xs = [v[i] for i in n.inputs]
        a = n.attrs.model_dump()
        if n.op == "input":
            y = np.asarray(inputs[n.name], np.float64)
        elif n.op in ("dense", "maxout"):
            y = xs[0] @ w[f"{n.name}/kernel"].astype(np.float64)
            if a["use_bias"]:
                y = y + w[f"{n.name}/bias"]
            if n.op == "dense":
                y = NP_ACT[a["activation"]["type"]](a["activation"], y)
            else:
                y = y.reshape(*y.shape[:-1], a["units"], a["pieces"]).max(-1)
        elif n.op == "batch_norm":
            x = xs[0]
            mm, mv = w[f"{n.name}/moving_mean"].astype(np.float64), w[f"{n.name}/moving_variance"].astype(np.float64)
            if training:
                axes = tuple(range(x.ndim - 1))
                mean, var = x.mean(axes), x.var(axes)  # biased
                m = a["momentum"]
                stats[f"{n.name}/moving_mean"] = m * mm + (1 - m) * mean
                stats[f"{n.name}/moving_variance"] = m * mv + (1 - m) * var
            else:
                mean, var = mm, mv
            y = (x - mean) / np.sqrt(var + a["epsilon"])
            if a["scale"]:
                y = y * w[f"{n.name}/gamma"]
            if a["center"]:
                y = y + w[f"{n.name}/beta"]
        elif n.op == "dropout":
            y = xs[0] * masks[n.name] / (1 - a["rate"]) if training else xs[0]
        elif n.op == "activation":
            y = NP_ACT[a["activation"]["type"]](a["activation"], xs[0])
        elif n.op == "flatten":
            y = xs[0].reshape(len(xs[0]), -1)
        elif n.op == "reshape":
            y = xs[0].reshape(len(xs[0]), *a["shape"])
        elif n.op == "concatenate":
            y = np.concatenate(xs, axis=a["axis"])
        elif n.op in ("add", "average"):
            y = sum(xs) / (len(xs) if n.op == "average" else 1)
        elif n.op == "subtract":
            y = xs[0] - xs[1]
        elif n.op == "multiply":
            y = np.prod(xs, axis=0)
        elif n.op == "maximum":
            y = np.max(xs, axis=0)
        elif n.op == "minimum":
            y = np.min(xs, axis=0)
        else:
            raise AssertionError(f"oracle has no op {n.op}")
        v[n.name] = y
    return {o.name: v[o.name] for o in ir.outputs}, stats


def build(case_or_spec, *, seed: int = 0, name: str = "m"):
    ir = case_or_spec.ir() if hasattr(case_or_spec, "ir") else compile_spec(case_or_spec, name=name)
    weights = initial_weights(ir, seed)
    return ir, weights, BACKEND.build(ir, weights)


def assert_close(name, got, want, tol=TOL):
    result = compare_arrays(name, got, want, tol)
    assert result.passed, result.render()


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------

def test_plugin_and_status_do_not_import_torch():
    code = ("import sys; import dnnc.backends.torch.plugin as p; b = p.dnnc_backends()[0]; "
            "ok, detail = b.status(); print(ok, detail); assert 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True torch 2.")


def test_backend_declares_the_core_ops():
    assert BACKEND.name == "torch" and BACKEND.artifact_suffix == ".pt"
    assert BACKEND.supported_ops == CORE_OPS


def test_unsupported_op_fails_closed_naming_it():
    from dnnc.compiler.ops import OpAttrs

    class PluginOpAttrs(OpAttrs):
        """The attributes of an op a plugin defines and the torch backend does not declare."""

    ir = ModelIR(name="x", inputs=("input",), nodes=(
        NodeIR(name="input", op="input", shape=(4,), attrs={"dtype": "float32"}),
        NodeIR(name="conv", op="conv2d", inputs=("input",), shape=(4,), attrs=PluginOpAttrs()),
    ), outputs=(OutputIR(name="conv", shape=(4,)),))
    with pytest.raises(BackendError, match="'conv2d'.*'conv'"):
        BACKEND.build(ir, {})


# ---------------------------------------------------------------------------
# Every op / activation / initializer / loss against the NumPy oracle
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_numpy(case):
    ir, weights, model = build(case)
    inputs, targets, masks = make_batch(ir, case.batch_size, seed=1)
    # inference
    want, _ = np_forward(ir, weights, inputs)
    assert_close("inference", model.forward(inputs), want)
    # training mode with masks, and the moving statistics it leaves behind
    want, stats = np_forward(ir, weights, inputs, training=True, masks=masks)
    assert_close("training", model.forward(inputs, training=True, dropout_masks=masks or None), want)
    if stats:
        now = model.get_weights()
        assert_close("moving_stats", {k: now[k] for k in stats}, stats)
    # the loss of a training-mode pass (no update) against the NumPy loss formula + penalties
    model.set_weights(weights)
    losses, grads = model.loss_and_gradients(inputs, targets, dropout_masks=masks or None)
    expected = sum(o.loss_weight * loss_value(o.loss, o.head, want[o.name], targets[o.name]) for o in ir.outputs)
    for key, _, p in ir.weight_specs():
        if p.regularizer:
            x = weights[key].astype(np.float64)
            expected += p.regularizer.l1 * np.abs(x).sum() + p.regularizer.l2 * (x * x).sum()
    assert losses["loss"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert set(grads) == {k for k, _, p in ir.weight_specs() if p.trainable}
    for key, g in grads.items():
        assert g.shape == weights[key].shape and g.dtype == np.float32 and np.isfinite(g).all()
    # counts come from the torch modules and equal the IR's
    counts = model.layer_param_counts()
    assert counts == {n.name: (n.trainable_count, n.non_trainable_count) for n in ir.nodes}


def test_gradients_match_finite_differences():
    """Gradient of the total loss (with penalties) against central differences in float64."""
    ir, weights, model = build(CASES_BY_NAME["regularizers"])
    inputs, targets, _ = make_batch(ir, 8, seed=2)
    _, grads = model.loss_and_gradients(inputs, targets, training=False)

    def total(ws):
        out, _ = np_forward(ir, ws, inputs)
        o = ir.outputs[0]
        value = loss_value(o.loss, o.head, out[o.name], targets[o.name])
        for key, _, p in ir.weight_specs():
            if p.regularizer:
                x = ws[key].astype(np.float64)
                value += p.regularizer.l1 * np.abs(x).sum() + p.regularizer.l2 * (x * x).sum()
        return value

    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    for key in ("dense/kernel", "dense/bias", "out/kernel"):
        for idx in [(0,) * weights[key].ndim, tuple(s - 1 for s in weights[key].shape)]:
            plus = {k: v.copy() for k, v in w64.items()}
            minus = {k: v.copy() for k, v in w64.items()}
            plus[key][idx] += 1e-6
            minus[key][idx] -= 1e-6
            numeric = (total(plus) - total(minus)) / 2e-6
            assert grads[key][idx] == pytest.approx(numeric, rel=1e-3, abs=1e-5), (key, idx)


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

def test_weights_round_trip_exactly_and_kernel_is_transposed():
    ir, _, model = build(CASES_BY_NAME["mlp_bn_dropout"])
    rng = np.random.default_rng(5)
    new = {k: rng.standard_normal(p.shape).astype(np.float32) for k, _, p in ir.weight_specs()}
    new = {k: (np.abs(v) + 0.1 if k.endswith("moving_variance") else v) for k, v in new.items()}
    model.set_weights(new)
    got = model.get_weights()
    assert set(got) == set(new)
    for k in new:
        assert got[k].dtype == np.float32 and got[k].shape == new[k].shape
        np.testing.assert_array_equal(got[k], new[k])
    linear = model.graph.module_for("dense").linear
    assert linear.weight.is_contiguous()
    np.testing.assert_array_equal(linear.weight.detach().numpy(), new["dense/kernel"].T)
    # get_weights returns copies, not views of the live parameters
    got["dense/kernel"][...] = 0
    assert np.abs(model.get_weights()["dense/kernel"]).sum() > 0


def test_set_weights_rejects_missing_unknown_and_misshaped():
    ir, weights, model = build(CASES_BY_NAME["op_dense"])
    with pytest.raises(ValueError, match="missing"):
        model.set_weights({k: v for k, v in weights.items() if k != "dense/bias"})
    with pytest.raises(ValueError, match="unknown"):
        model.set_weights({**weights, "nope/kernel": np.zeros(1, np.float32)})
    with pytest.raises(ValueError, match="shape"):
        model.set_weights({**weights, "dense/kernel": weights["dense/kernel"].T})


def test_module_names_are_sanitised():
    spec = {"model": {"input_shape": [3], "layers": [
        {"name": "block.1", "type": "dense", "units": 2}, {"name": "block-2.out", "type": "dense", "units": 2}]}}
    ir, weights, model = build(spec)
    assert set(model.graph.module_names.values()) == {"input", "block_1", "block_2_out"}
    out = model.forward({"input": np.ones((2, 3), np.float32)})
    want, _ = np_forward(ir, weights, {"input": np.ones((2, 3))})
    assert_close("out", out, want)


def test_summary_lists_modules_and_counts():
    ir, _, model = build(CASES_BY_NAME["mlp_bn_dropout"])
    text = model.summary()
    assert "KerasBatchNorm(16, momentum=0.99, epsilon=0.001" in text
    assert "Dropout(rate=0.3)" in text and "GraphModule(" in text
    assert f"total parameters: {ir.param_count:,}" in text
    assert f"non-trainable {ir.non_trainable_count:,}" in text


# ---------------------------------------------------------------------------
# Batch norm and dropout semantics
# ---------------------------------------------------------------------------

BN_SPEC = {"model": {"input_shape": [4], "layers": [{"type": "batch_norm", "momentum": 0.9, "epsilon": 1e-3}]},
           "training": {"loss": "mse", "optimizer": {"type": "sgd", "learning_rate": 0.0}}}


def test_batch_norm_moving_stats_after_a_training_step_follow_the_keras_formula():
    ir, weights, model = build(BN_SPEC)
    x = (np.random.default_rng(0).standard_normal((16, 4)) * [1, 2, 3, 4] + [0, 1, -1, 5]).astype(np.float32)
    model.train_step({"input": x}, {"batch_norm": np.zeros((16, 4), np.float32)}, learning_rate=0.0)
    w = model.get_weights()
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(w["batch_norm/moving_mean"], 0.1 * x64.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(w["batch_norm/moving_variance"], 0.9 + 0.1 * x64.var(0), rtol=1e-6)  # biased
    # torch's own BatchNorm would have stored the unbiased variance: make sure that is not what we did
    assert not np.allclose(w["batch_norm/moving_variance"], 0.9 + 0.1 * x64.var(0, ddof=1), rtol=1e-4)
    # one forward(training=True) is one update; evaluate and inference never update
    model.evaluate_step({"input": x}, {"batch_norm": np.zeros((16, 4), np.float32)})
    model.forward({"input": x})
    np.testing.assert_array_equal(model.get_weights()["batch_norm/moving_mean"], w["batch_norm/moving_mean"])
    model.forward({"input": x}, training=True)
    np.testing.assert_allclose(model.get_weights()["batch_norm/moving_mean"], 0.19 * x64.mean(0), rtol=1e-6, atol=1e-7)


def test_batch_norm_in_training_with_one_sample_gives_beta():
    ir, weights, model = build(BN_SPEC)
    weights = {**weights, "batch_norm/beta": np.array([1, 2, 3, 4], np.float32)}
    model.set_weights(weights)
    losses, grads = model.loss_and_gradients({"input": np.ones((1, 4), np.float32)}, {"batch_norm": np.zeros((1, 4), np.float32)})
    out = model.forward({"input": np.full((1, 4), 7.0, np.float32)}, training=True)
    np.testing.assert_allclose(out["batch_norm"], [[1, 2, 3, 4]])
    np.testing.assert_array_equal(grads["batch_norm/gamma"], 0.0)


DROP_SPEC = {"model": {"input_shape": [1000], "layers": [{"type": "dropout", "rate": 0.25}]},
             "training": {"loss": "mse", "optimizer": "sgd", "seed": 3}}


def test_dropout_is_inverted_random_in_training_and_inactive_at_inference():
    ir, _, model = build(DROP_SPEC)
    x = np.full((20, 1000), 3.0, np.float32)
    out = model.forward({"input": x}, training=True)["dropout"]
    kept = out != 0
    np.testing.assert_allclose(out[kept], 3.0 / 0.75, rtol=1e-7)
    assert abs(kept.mean() - 0.75) < 0.01  # 20,000 draws: std 0.003
    np.testing.assert_array_equal(model.forward({"input": x})["dropout"], x)
    np.testing.assert_array_equal(model.evaluate_step({"input": x}, {"dropout": x}).outputs["dropout"], x)


def test_dropout_honours_given_masks():
    ir, _, model = build(DROP_SPEC)
    x = np.random.default_rng(0).standard_normal((4, 1000)).astype(np.float32)
    mask = (np.random.default_rng(1).random((4, 1000)) > 0.5).astype(np.float32)
    out = model.forward({"input": x}, training=True, dropout_masks={"dropout": mask})["dropout"]
    np.testing.assert_allclose(out, x * mask / 0.75, rtol=1e-6)
    with pytest.raises(ValueError, match="not dropout layers"):
        model.forward({"input": x}, training=True, dropout_masks={"dense": mask})
    with pytest.raises(ValueError, match=r"mask of 'dropout' must have shape \(batch, 1000\)"):
        model.forward({"input": x}, training=True, dropout_masks={"dropout": mask[:, :10]})
    with pytest.raises(ValueError, match="mask has shape"):
        model.forward({"input": x}, training=True, dropout_masks={"dropout": mask[:3]})


def test_dropout_draws_are_seeded_by_the_spec():
    x = {"input": np.ones((8, 1000), np.float32)}
    first = build(DROP_SPEC)[2].forward(x, training=True)["dropout"]
    second = build(DROP_SPEC)[2].forward(x, training=True)["dropout"]
    np.testing.assert_array_equal(first, second)
    other = compile_spec({**DROP_SPEC, "training": {**DROP_SPEC["training"], "seed": 4}}, name="m")
    third = BACKEND.build(other, initial_weights(other)).forward(x, training=True)["dropout"]
    assert (third != first).any()


# ---------------------------------------------------------------------------
# Training and evaluation steps
# ---------------------------------------------------------------------------

def test_train_step_reports_the_pre_update_pass_and_uses_the_given_learning_rate():
    case = CASES_BY_NAME["regularizers"]
    ir, weights, model = build(case)
    inputs, targets, _ = make_batch(ir, 8, seed=3)
    losses, grads = model.loss_and_gradients(inputs, targets)
    before = model.forward(inputs, training=True)
    result = model.train_step(inputs, targets, learning_rate=0.05)  # sgd without momentum: w ← w − lr·g
    assert result.losses == pytest.approx(losses, rel=1e-6)
    assert set(result.losses) == {"loss"}
    np.testing.assert_allclose(result.outputs["out"], before["out"], rtol=1e-6, atol=1e-7)
    after = model.get_weights()
    for key, g in grads.items():
        np.testing.assert_allclose(after[key], weights[key] - np.float32(0.05) * g, rtol=1e-5, atol=1e-7)
    state = model.optimizer_state()
    assert state["iterations"] == 1
    # a learning rate of 0 leaves the weights alone
    model.train_step(inputs, targets, learning_rate=0.0)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, after[key])


def test_multi_output_losses_are_weighted_and_named():
    ir, weights, model = build(CASES_BY_NAME["two_outputs"])
    inputs, targets, _ = make_batch(ir, 8, seed=4)
    result = model.evaluate_step(inputs, targets)
    assert set(result.losses) == {"loss", "main_loss", "aux_loss"}
    want, _ = np_forward(ir, weights, inputs)
    main = loss_value({"type": "mse"}, "linear", want["main"], targets["main"])
    aux = loss_value({"type": "mse"}, "linear", want["aux"], targets["aux"])
    assert result.losses["main_loss"] == pytest.approx(main, rel=1e-5)
    assert result.losses["aux_loss"] == pytest.approx(aux, rel=1e-5)
    assert result.losses["loss"] == pytest.approx(0.9 * main + 0.1 * aux, rel=1e-5)
    sample_weight = np.linspace(0, 2, 8).astype(np.float32)
    weighted = model.evaluate_step(inputs, targets, sample_weight=sample_weight).losses["main_loss"]
    assert weighted == pytest.approx(loss_value({"type": "mse"}, "linear", want["main"], targets["main"], sample_weight), rel=1e-5)


def test_same_spec_and_seed_give_identical_histories():
    spec = CASES_BY_NAME["mlp_bn_dropout"].spec  # dropout without masks: drawn from the seeded generator
    histories = []
    for _ in range(2):
        ir, _, model = build(spec)
        inputs, targets, _ = make_batch(ir, 16, seed=0)
        histories.append([model.train_step(inputs, targets, learning_rate=0.1).losses["loss"] for _ in range(5)])
    assert histories[0] == histories[1]


def test_input_and_target_errors_name_what_is_expected():
    ir, _, model = build(CASES_BY_NAME["op_dense"])
    with pytest.raises(ValueError, match=r"inputs must be given for \['input'\]"):
        model.forward({"x": np.zeros((2, 6), np.float32)})
    with pytest.raises(ValueError, match=r"input 'input' must have shape \(batch, 6\) \(received \(2, 5\)\)"):
        model.forward({"input": np.zeros((2, 5), np.float32)})
    with pytest.raises(ValueError, match=r"targets must be given for \['out'\]"):
        model.evaluate_step({"input": np.zeros((2, 6), np.float32)}, {"y": np.zeros(2, np.int64)})


# ---------------------------------------------------------------------------
# Artifacts
# ---------------------------------------------------------------------------

RELOAD = textwrap.dedent("""
    import sys, json, numpy as np, torch
    from dnnc.backends.torch import TorchBackend
    pt, pt2, x_path = sys.argv[1:4]
    payload = torch.load(pt, weights_only=True)           # no arbitrary unpickling
    model = TorchBackend().load(pt)
    x = np.load(x_path)
    np.save(x_path + ".pt.npy", model.forward({"input": x})["out"])
    program = torch.export.load(pt2)
    np.save(x_path + ".pt2.npy", program.module()(torch.from_numpy(x))[0].detach().numpy())
    print(json.dumps({"keys": sorted(payload), "counts": model.layer_param_counts()["dense_1"]}))
""")


def test_save_and_reload_in_a_fresh_process(tmp_path):
    ir, _, model = build(CASES_BY_NAME["mlp_bn_dropout"])
    inputs, targets, _ = make_batch(ir, 16, seed=0)
    for _ in range(3):  # move the weights and the moving statistics away from their initial values
        model.train_step(inputs, targets, learning_rate=0.1)
    written = model.save(tmp_path / "model.pt")
    assert written == [tmp_path / "model.pt", tmp_path / "model.pt2"] and model.export_error is None
    x = make_batch(ir, 5, seed=9)[0]["input"]  # another batch size than the export example
    np.save(tmp_path / "x.npy", x)
    out = subprocess.run([sys.executable, "-c", RELOAD, str(written[0]), str(written[1]), str(tmp_path / "x.npy")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["keys"] == ["format", "format_version", "ir", "torch_version", "weights"]
    assert tuple(info["counts"]) == (ir.node("dense_1").trainable_count, 0)
    expected = model.forward({"input": x})["out"]
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy.pt.npy"), expected)
    np.testing.assert_allclose(np.load(tmp_path / "x.npy.pt2.npy"), expected, rtol=1e-6, atol=1e-6)


def test_load_rejects_foreign_files(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(BackendError, match="not a dnnc torch artifact"):
        BACKEND.load(path)
    with pytest.raises(BackendError, match="no such file"):
        BACKEND.load(tmp_path / "missing.pt")


def test_strict_parity_switches_on_deterministic_algorithms():
    spec = {**CASES_BY_NAME["op_dense"].spec}
    spec["training"] = {**spec["training"], "strict_parity": True}
    before = torch.are_deterministic_algorithms_enabled()
    try:
        build(spec)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)
