"""The example third-party backend `dnnc-numpy` (examples/plugins/dnnc-numpy), seen from dnnc.

* the registry finds it through its ``dnnc`` entry point, like any installed plugin;
* on the lecture's 784-64-10 sigmoid MNIST example it agrees with the torch
  backend: logits within 1e-5, gradients within 1e-4 relative, and 20-step
  SGD and Adam trajectories (losses and weights) within 1e-5 relative.

Skipped when dnnc-numpy is not installed
(``pip install -e examples/plugins/dnnc-numpy --no-deps``) or torch is missing.
Uses the first 640 MNIST training images when DNNC_DATA_DIR provides them,
otherwise synthetic MNIST-like data (80 % zero pixels).
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import numpy as np
import pytest

import dnnc
from dnnc.plugins.manager import build_registry

dnnc_numpy = pytest.importorskip("dnnc_numpy", reason="dnnc-numpy is not installed "
                                 "(pip install -e examples/plugins/dnnc-numpy --no-deps)")

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "mnist_784_64_10_sigmoid.toml"
BATCH, STEPS = 32, 20


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """max|a − b| / max|b|: the error relative to the array's scale."""
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


def _numpy_entry_point():
    eps = [ep for ep in importlib.metadata.entry_points(group="dnnc") if ep.name == "numpy"]
    assert eps, "dnnc-numpy is importable but its 'dnnc' entry point is not installed"
    return eps[0]


def test_registry_finds_the_backend_through_its_entry_point():
    ep = _numpy_entry_point()
    assert ep.value == "dnnc_numpy.plugin"
    registry = build_registry([ep])  # only the built-in plugin and this entry point
    assert not registry.failures
    backend = registry.backend("numpy")
    assert type(backend).__name__ == "NumpyBackend" and type(backend).__module__ == "dnnc_numpy.backend"
    assert registry.origins["dnnc_backendsnumpy"] == "numpy"
    assert backend.artifact_suffix == ".npz"
    assert backend.status()[0]
    # the process-wide registry (every installed plugin) lists it next to the built-in backends
    assert "numpy" in dnnc.get_registry().backends


@pytest.fixture(scope="module")
def backends():
    registry = dnnc.get_registry()
    if "torch" not in registry.backends:
        pytest.skip("the torch backend is not registered")
    ok, detail = registry.backends["torch"].status()
    if not ok:
        pytest.skip(f"the torch backend is unavailable: {detail}")
    import torch

    # On a loaded 2-core machine torch's OpenMP threads spin against other processes (measured:
    # 200 ms per step of this model with 2 threads vs 0.5 ms with 1); the tiny model needs one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield registry.backend("numpy"), registry.backend("torch")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist_batches() -> tuple[np.ndarray, np.ndarray]:
    """640 images (float32 in [0, 1], flattened) and int64 labels."""
    n = BATCH * STEPS
    data_dir = os.environ.get("DNNC_DATA_DIR")
    images = Path(data_dir or "/nonexistent") / "mnist" / "train-images-idx3-ubyte.gz"
    if images.is_file():
        from dnnc.runner.datasets.idx import read_idx

        x = read_idx(images)[:n].reshape(n, -1).astype(np.float32) / np.float32(255)
        y = read_idx(images.with_name("train-labels-idx1-ubyte.gz"))[:n].astype(np.int64)
        return x, y
    rng = np.random.default_rng(0)
    x = (rng.random((n, 784)) * (rng.random((n, 784)) > 0.8)).astype(np.float32)
    return x, rng.integers(0, 10, n).astype(np.int64)


@pytest.fixture(scope="module")
def base_ir():
    return dnnc.compile_spec(SPEC)


def _ir(base, optimizer: dict | None = None):
    ir = base
    if optimizer is not None:
        from pydantic import TypeAdapter

        from dnnc.spec_schema.optimizers import OptimizerSpec

        opt = TypeAdapter(OptimizerSpec).validate_python(optimizer).model_dump()
        ir = ir.model_copy(update={"training": ir.training.model_copy(update={"optimizer": opt})})
    return ir


def test_inference_outputs_and_gradients_match_torch(backends, mnist_batches, base_ir):
    np_backend, torch_backend = backends
    ir = base_ir
    weights = dnnc.initial_weights(ir)
    ours, theirs = np_backend.build(ir, weights), torch_backend.build(ir, weights)
    x, y = mnist_batches
    inputs, targets = {"input": x[:BATCH]}, {"dense_1": y[:BATCH]}
    for training in (False, True):
        a = ours.forward(inputs, training=training)["dense_1"]
        b = theirs.forward(inputs, training=training)["dense_1"]
        assert a.dtype == np.float32 and a.shape == (BATCH, 10)
        assert np.abs(a - b).max() <= 1e-5
    la, ga = ours.loss_and_gradients(inputs, targets)
    lb, gb = theirs.loss_and_gradients(inputs, targets)
    assert la["loss"] == pytest.approx(lb["loss"], rel=1e-6)
    assert set(ga) == set(gb) == {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}
    for key in ga:
        assert ga[key].dtype == np.float32 and ga[key].shape == gb[key].shape
        assert rel_err(ga[key], gb[key]) <= 1e-4, key
    sw = np.linspace(0.5, 2.0, BATCH).astype(np.float32)
    ev_a = ours.evaluate_step(inputs, targets, sample_weight=sw)
    ev_b = theirs.evaluate_step(inputs, targets, sample_weight=sw)
    assert ev_a.losses["loss"] == pytest.approx(ev_b.losses["loss"], rel=1e-6)


@pytest.mark.parametrize("optimizer", [
    {"type": "sgd", "learning_rate": 0.1},
    {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"type": "adam", "learning_rate": 0.001},
    {"type": "adam", "learning_rate": 0.001, "global_clipnorm": 0.5, "weight_decay": 0.004},
], ids=["sgd", "sgd-nesterov-wd", "adam", "adam-clip-wd"])
def test_training_trajectory_matches_torch(backends, mnist_batches, base_ir, optimizer):
    np_backend, torch_backend = backends
    ir = _ir(base_ir, optimizer)
    weights = dnnc.initial_weights(ir)
    ours, theirs = np_backend.build(ir, weights), torch_backend.build(ir, weights)
    x, y = mnist_batches
    base_lr = optimizer["learning_rate"]
    for step in range(STEPS):
        batch = slice(step * BATCH, (step + 1) * BATCH)
        lr = base_lr * 0.95**step  # a decaying rate, as a schedule would give
        ra = ours.train_step({"input": x[batch]}, {"dense_1": y[batch]}, learning_rate=lr)
        rb = theirs.train_step({"input": x[batch]}, {"dense_1": y[batch]}, learning_rate=lr)
        assert ra.losses["loss"] == pytest.approx(rb.losses["loss"], rel=1e-5), f"step {step}"
        assert rel_err(ra.outputs["dense_1"], rb.outputs["dense_1"]) <= 1e-5, f"step {step}"
    wa, wb = ours.get_weights(), theirs.get_weights()
    for key in wb:
        assert rel_err(wa[key], wb[key]) <= 1e-5, key
    assert rel_err(ours.optimizer_state()["iterations"], theirs.optimizer_state()["iterations"]) == 0


def test_batch_norm_and_dropout_example_matches_torch_with_given_masks(backends, mnist_batches):
    """examples/mnist_64_bn_dropout.toml (batch norm, relu layers, dropout fed the same masks), 10 SGD steps.

    SGD with momentum rather than the example's Adam: a dense bias feeding a batch norm has a true
    gradient of exactly 0 (the norm subtracts the mean), so both backends see only rounding noise,
    and Adam would turn it into steps of ±lr in random directions.  With SGD those biases stay at
    noise level (~1e-8) and everything else can be compared tightly.
    """
    np_backend, torch_backend = backends
    ir = _ir(dnnc.compile_spec(ROOT / "examples" / "mnist_64_bn_dropout.toml"),
             {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9})
    weights = dnnc.initial_weights(ir)
    ours, theirs = np_backend.build(ir, weights), torch_backend.build(ir, weights)
    x, y = mnist_batches
    out = ir.outputs[0].name
    rng = np.random.default_rng(3)
    dropouts = [n for n in ir.nodes if n.op == "dropout"]
    for step in range(10):
        batch = slice(step * 64, (step + 1) * 64)
        masks = {n.name: (rng.random((64, *n.shape)) >= n.attrs.rate).astype(np.float32) for n in dropouts}
        ra = ours.train_step({"input": x[batch]}, {out: y[batch]}, learning_rate=0.05, dropout_masks=masks)
        rb = theirs.train_step({"input": x[batch]}, {out: y[batch]}, learning_rate=0.05, dropout_masks=masks)
        assert ra.losses["loss"] == pytest.approx(rb.losses["loss"], rel=1e-5), f"step {step}"
    wa, wb = ours.get_weights(), theirs.get_weights()
    before_bn = {f"{n.inputs[0]}/bias" for n in ir.nodes if n.op == "batch_norm"}
    assert before_bn == {"dense/bias", "dense_1/bias", "dense_2/bias"}
    for key in wb:  # includes gamma, beta and the moving statistics
        if key in before_bn:
            assert np.abs(wa[key] - wb[key]).max() <= 1e-6, key
        else:
            assert rel_err(wa[key], wb[key]) <= 1e-5, key
    inputs = {"input": x[:64]}
    assert np.abs(ours.forward(inputs)[out] - theirs.forward(inputs)[out]).max() <= 1e-5
