"""CompiledModel.probe (the optional per-node probe) on keras, torch and numpy.

Each backend's probe is checked against the NumPy backend in float64 (its own
hand-written backward pass) and against the backend's own loss_and_gradients
and evaluate_step; the output gradients are checked through the chain rule
against the parameter gradients, so they cannot be wrong in a way both agree on.
"""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.backends.base import BackendError, Probe, pre_activation_nodes, probe_nodes, run_probe
from dnnc.compiler.initial_weights import initial_weights
from dnnc.plugins.manager import get_registry
from dnnc_numpy.model import NumpyModel as Float64Reference
from support.fakes import NumpyModel as FakeModel
from support.fakes import ir_from_toml, xor_spec

SPEC = """
spec_version = 1
name = "probe"
[data]
dataset = "xor"
[model]
input_shape = [2, 3]
layers = [
  { type = "flatten" },
  { type = "dense", units = 8, activation = "sigmoid" },
  { type = "dense", units = 8, activation = "leaky_relu", kernel_regularizer = { type = "l2", l2 = 0.01 } },
  { type = "batch_norm" },
  { type = "relu" },
  { type = "dropout", rate = 0.3 },
  { type = "dense", units = 4, activation = "softmax" },
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = "sgd"
"""

BACKENDS = ["numpy", "torch", "keras"]
RTOL = {"values": 1e-5, "gradients": 1e-4}  # the numeric conformance tolerances (float32 against float64)


@pytest.fixture(scope="module")
def case():
    ir = ir_from_toml(SPEC, name="probe")
    weights = initial_weights(ir, 0)
    # moving statistics away from (0, 1), so inference-mode batch norm is not the identity
    weights["batch_norm/moving_mean"] = np.linspace(-0.3, 0.3, 8).astype(np.float32)
    weights["batch_norm/moving_variance"] = np.linspace(0.5, 2.0, 8).astype(np.float32)
    rng = np.random.default_rng(0)
    inputs = {"input": rng.normal(size=(16, 2, 3)).astype(np.float32)}
    targets = {ir.outputs[0].name: rng.integers(0, 4, 16)}
    reference = Float64Reference(ir, weights, dtype=np.float64).probe(inputs, targets, pre_activations=True)
    return ir, weights, inputs, targets, reference


@pytest.fixture(scope="module", params=BACKENDS)
def probed(request, case):
    ir, weights, inputs, targets, _ = case
    model = get_registry().available_backend(request.param).build(ir, weights)
    return model, run_probe(model, inputs, targets, pre_activations=True)


def scaled(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-6))


def test_probe_reports_every_non_input_node_in_float32(case, probed):
    ir, *_ = case
    _, probe = probed
    assert isinstance(probe, Probe)
    names = [n.name for n in ir.nodes if n.op != "input"]
    assert list(probe.activations) == names and list(probe.output_gradients) == names
    assert list(probe.pre_activations) == ["dense", "dense_1", "relu", "dense_2"]
    for name in names:
        assert probe.activations[name].dtype == np.float32
        assert probe.output_gradients[name].shape == probe.activations[name].shape == (16, *ir.node(name).shape)
    assert set(probe.parameter_gradients) == {key for key, _, p in ir.weight_specs() if p.trainable}


def test_probe_matches_the_float64_reference(case, probed):
    *_, reference = case
    _, probe = probed
    assert probe.losses["loss"] == pytest.approx(reference.losses["loss"], rel=1e-5)
    for name, value in reference.activations.items():
        assert scaled(probe.activations[name], value) <= RTOL["values"], name
        assert scaled(probe.output_gradients[name], reference.output_gradients[name]) <= RTOL["gradients"], name
    for name, value in reference.pre_activations.items():
        assert scaled(probe.pre_activations[name], value) <= RTOL["values"], name
    for key, value in reference.parameter_gradients.items():
        assert scaled(probe.parameter_gradients[key], value) <= RTOL["gradients"], key


def test_probe_is_the_inference_mode_pass_of_the_backends_own_steps(case, probed):
    """Up to float32 rounding: Keras's steps run as compiled graphs (whose optimiser may fuse ops), its probe
    eagerly; a training-mode pass (batch statistics instead of the moving ones) differs by far more."""
    _, _, inputs, targets, _ = case
    model, probe = probed
    losses, grads = model.loss_and_gradients(inputs, targets, training=False)
    assert probe.losses == pytest.approx(losses, rel=1e-6)
    for key, g in grads.items():
        assert scaled(probe.parameter_gradients[key], g) <= 1e-5, key
    saved = model.get_weights()
    _, training_grads = model.loss_and_gradients(inputs, targets, training=True)  # updates the moving statistics
    model.set_weights(saved)
    assert scaled(probe.parameter_gradients["dense/kernel"], training_grads["dense/kernel"]) > 1e-2
    outputs = model.forward(inputs, training=False)
    assert scaled(probe.activations["dense_2"], outputs["dense_2"]) <= 1e-6
    assert model.evaluate_step(inputs, targets).losses == pytest.approx(probe.losses, rel=1e-6)


def test_pre_activations_are_what_the_activation_function_receives(case, probed):
    _, weights, inputs, _, _ = case
    _, probe = probed
    a = probe.activations
    x = inputs["input"].reshape(16, 6).astype(np.float64)
    z = x @ weights["dense/kernel"] + weights["dense/bias"]  # the fused sigmoid's input
    np.testing.assert_allclose(probe.pre_activations["dense"], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["dense"], 1 / (1 + np.exp(-z)), rtol=1e-5, atol=1e-6)
    z1 = a["dense"].astype(np.float64) @ weights["dense_1/kernel"] + weights["dense_1/bias"]  # leaky_relu's input
    np.testing.assert_allclose(probe.pre_activations["dense_1"], z1, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(probe.pre_activations["relu"], a["batch_norm"])  # an activation node's input
    np.testing.assert_allclose(probe.pre_activations["dense_2"], a["dense_2"], rtol=1e-6)  # linear: the logits


def test_output_gradients_satisfy_the_chain_rule(case, probed):
    """∂L/∂kernel = inputᵀ·(σ'(z)·∂L/∂a) for the sigmoid layer, and ∂L/∂flatten = (σ'(z)·∂L/∂a)·kernelᵀ
    (the flatten depends on no parameter: its gradient exists only because the probe asks for it)."""
    _, weights, *_ = case
    _, probe = probed
    a, g = probe.activations["dense"].astype(np.float64), probe.output_gradients["dense"].astype(np.float64)
    dz = a * (1 - a) * g
    x = probe.activations["flatten"].astype(np.float64)
    assert scaled(probe.parameter_gradients["dense/kernel"], x.T @ dz) <= RTOL["gradients"]
    assert scaled(probe.output_gradients["flatten"], dz @ weights["dense/kernel"].T) <= RTOL["gradients"]


def test_probe_of_chosen_nodes_only(case, probed):
    ir, _, inputs, targets, reference = case
    model, _ = probed
    probe = run_probe(model, inputs, targets, nodes=["dense_1", "flatten"])
    assert list(probe.activations) == ["flatten", "dense_1"]  # IR order
    assert probe.pre_activations == {}
    assert scaled(probe.output_gradients["dense_1"], reference.output_gradients["dense_1"]) <= RTOL["gradients"]


def test_probe_nodes_are_checked(case):
    ir, *_ = case
    assert probe_nodes(ir, None)[0] == "flatten"
    assert pre_activation_nodes(ir, ("flatten", "dense", "relu")) == ("dense", "relu")
    with pytest.raises(ValueError, match=r"cannot probe 'input', 'nope': not a non-input node of model 'probe'"):
        probe_nodes(ir, ["nope", "input", "dense"])


def test_a_backend_without_probe_is_named():
    ir = ir_from_toml(xor_spec())
    model = FakeModel(ir, initial_weights(ir, 0))
    with pytest.raises(BackendError, match=r"backend 'fake' does not implement the optional CompiledModel.probe"):
        run_probe(model, {"input": np.zeros((4, 2), np.float32)}, {"dense_1": np.zeros((4, 1), np.float32)})


CONV_SPEC = """
spec_version = 1
name = "probe-conv"
[data]
dataset = "xor"
[model]
input_shape = [7, 6, 2]
layers = [
  { type = "conv2d", filters = 3, kernel_size = 3, activation = "tanh" },
  { type = "conv2d", filters = 4, kernel_size = 2, strides = 2, padding = "same", activation = "leaky_relu" },
  { type = "flatten" },
  { type = "dense", units = 3, activation = "softmax" },
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = "sgd"
"""


def _conv2d_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int = 1) -> np.ndarray:
    """Channels-last cross-correlation, canonical kernel (kh, kw, in, out), in float64 (the test's own)."""
    kh, kw = kernel.shape[:2]
    n, h, w, _ = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.einsum("nhwc,hwcf->nf", patch, kernel)
    return out + bias


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_convolution_pre_activations_are_what_their_activation_receives(backend):
    """Both kinds of Keras layer (a fused tanh, a separate LeakyReLU layer) and the torch Conv module: the
    pre-activation is conv(x) + bias, recomputed here independently, and the activation of it is the output."""
    ir = ir_from_toml(CONV_SPEC, name="probe-conv")
    weights = initial_weights(ir, 0)
    weights = {k: (w + 0.1 if k.endswith("/bias") else w) for k, w in weights.items()}  # non-zero biases
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 7, 6, 2)).astype(np.float32)
    targets = {ir.outputs[0].name: rng.integers(0, 3, 5)}
    model = get_registry().available_backend(backend).build(ir, weights)
    probe = run_probe(model, {"input": x}, targets, pre_activations=True)
    assert list(probe.pre_activations) == ["conv2d", "conv2d_1", "dense"]
    z = _conv2d_valid(x.astype(np.float64), weights["conv2d/kernel"], weights["conv2d/bias"])
    np.testing.assert_allclose(probe.pre_activations["conv2d"], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probe.activations["conv2d"], np.tanh(z), rtol=1e-5, atol=1e-6)
    # 'same' with kernel 2, stride 2 over (5, 4): TensorFlow pads one row after (bottom), no column
    a = np.pad(probe.activations["conv2d"].astype(np.float64), ((0, 0), (0, 1), (0, 0), (0, 0)))
    z1 = _conv2d_valid(a, weights["conv2d_1/kernel"], weights["conv2d_1/bias"], stride=2)
    assert probe.pre_activations["conv2d_1"].shape == (5, *ir.node("conv2d_1").shape)
    np.testing.assert_allclose(probe.pre_activations["conv2d_1"], z1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probe.activations["conv2d_1"], np.where(z1 > 0, z1, 0.01 * z1), rtol=1e-5, atol=1e-6)
