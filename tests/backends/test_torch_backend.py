"""The PyTorch backend against the NumPy reference of the IR (dnnc.reference, the float64 oracle).

Every conformance case (one per op, activation, initializer and loss) is run
through the torch model and through the reference, each element within its
float32 error bound; plus weights round trips, parameter counts, batch-norm
and dropout semantics, the training step, and artifacts reloaded in a fresh
process.
"""

from __future__ import annotations

import json
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
from dnnc.conformance.batches import make_batch  # noqa: E402
from support.oracle import assert_within, oracle  # noqa: E402

BACKEND = TorchBackend()


def build(case_or_spec, *, seed: int = 0, name: str = "m"):
    ir = case_or_spec.ir() if hasattr(case_or_spec, "ir") else compile_spec(case_or_spec, name=name)
    weights = initial_weights(ir, seed)
    return ir, weights, BACKEND.build(ir, weights)


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
        NodeIR(name="conv", op="conv9d", inputs=("input",), shape=(4,), attrs=PluginOpAttrs()),
    ), outputs=(OutputIR(name="conv", shape=(4,)),))
    with pytest.raises(BackendError, match="'conv9d'.*'conv'"):
        BACKEND.build(ir, {})


# ---------------------------------------------------------------------------
# Every op / activation / initializer / loss against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_the_reference(case):
    ir, weights, model = build(case)
    inputs, targets, masks = make_batch(ir, case.batch_size, seed=1)
    # inference
    assert_within("inference", model.forward(inputs), oracle(ir, weights, inputs).outputs)
    # training mode with masks, and the moving statistics it leaves behind
    want = oracle(ir, weights, inputs, training=True, masks=masks, targets=targets)
    assert_within("training", model.forward(inputs, training=True, dropout_masks=masks or None), want.outputs)
    assert_within("moving_stats", model.get_weights(), want.moving)
    # the losses and gradients of a training-mode pass (no update), penalties included
    model.set_weights(weights)
    losses, grads = model.loss_and_gradients(inputs, targets, dropout_masks=masks or None)
    assert_within("loss", losses, want.losses)
    assert set(grads) == {k for k, _, p in ir.weight_specs() if p.trainable}
    assert all(g.dtype == np.float32 for g in grads.values())
    assert_within("gradients", grads, want.gradients)
    # counts come from the torch modules and equal the IR's
    counts = model.layer_param_counts()
    assert counts == {n.name: (n.trainable_count, n.non_trainable_count) for n in ir.nodes}


def test_inference_gradients_with_penalties_match_the_reference():
    """loss_and_gradients in inference mode: the total loss with its penalties, and every gradient."""
    ir, weights, model = build(CASES_BY_NAME["regularizers"])
    inputs, targets, _ = make_batch(ir, 8, seed=2)
    losses, grads = model.loss_and_gradients(inputs, targets, training=False)
    want = oracle(ir, weights, inputs, targets=targets, training=False)
    assert_within("loss", losses, want.losses)
    assert_within("gradients", grads, want.gradients)


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
    assert_within("out", out, oracle(ir, weights, {"input": np.ones((2, 3), np.float32)}).outputs)


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
    want = oracle(ir, weights, inputs, targets=targets, training=False).losses
    assert_within("losses", result.losses, want)
    main, aux = want["main_loss"].v, want["aux_loss"].v
    assert result.losses["loss"] == pytest.approx(0.9 * main + 0.1 * aux, rel=1e-5)
    sample_weight = np.linspace(0, 2, 8).astype(np.float32)
    weighted = model.evaluate_step(inputs, targets, sample_weight=sample_weight).losses
    assert_within("weighted losses", weighted,
                  oracle(ir, weights, inputs, targets=targets, training=False, sample_weight=sample_weight).losses)


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
    assert written == [tmp_path / "model.pt"]  # the torch.export program is a separate artifact
    written.append(model.export_pt2(tmp_path / "model.pt2"))
    assert written[1] == tmp_path / "model.pt2" and written[1].is_file()
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


def test_export_pt2_failure_names_the_reason_and_leaves_no_file(tmp_path, monkeypatch):
    _, _, model = build(CASES_BY_NAME["mlp_bn_dropout"])

    def refuse():
        raise RuntimeError("data-dependent control flow\nmore detail")

    monkeypatch.setattr(model, "export_program", refuse)
    target = tmp_path / "model.pt2"
    with pytest.raises(BackendError, match=r"torch.export could not export model .* so .*model.pt2 was not written "
                                           r"\(RuntimeError: data-dependent control flow\)$"):
        model.export_pt2(target)
    assert not target.exists()
    assert model.save(tmp_path / "model.pt") == [tmp_path / "model.pt"]  # the full model is still written


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
