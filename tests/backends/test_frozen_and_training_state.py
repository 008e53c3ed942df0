"""Every backend: frozen layers (no update, frozen batch norm in inference mode, counted non-trainable, no
penalty), unfreezing (set_trainable: a fresh optimizer), and the training state a checkpoint carries
(set_optimizer_state from any backend's canonical state, random_state / set_random_state)."""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.backends.base import split_optimizer_state
from dnnc.compiler.compile import compile_spec
from dnnc.compiler.freezing import frozen_nodes, with_trainable
from dnnc.compiler.initial_weights import initial_weights
from dnnc.plugins.manager import get_registry

BACKENDS = ("keras", "torch", "numpy")

SPEC = {
    "model": {"input_shape": [6], "layers": [
        {"type": "dense", "name": "hidden", "units": 5, "activation": "relu", "trainable": False,
         "kernel_regularizer": {"type": "l2", "l2": 0.5}},
        {"type": "batch_norm", "name": "norm", "trainable": False},
        {"type": "dense", "name": "mid", "units": 4, "activation": "tanh"},
        {"type": "dropout", "name": "drop", "rate": 0.5},
        {"type": "dense", "name": "out", "units": 3, "activation": "softmax"},
    ]},
    "training": {"loss": "sparse_categorical_crossentropy", "optimizer": {"type": "nadam", "learning_rate": 0.01}},
}
FROZEN = ("hidden/kernel", "hidden/bias", "norm/gamma", "norm/beta", "norm/moving_mean", "norm/moving_variance")


def _backend(name: str):
    backend = get_registry().backends.get(name)
    if backend is None or not backend.status()[0]:
        pytest.skip(f"backend {name!r} is not available")
    return backend


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    return _backend(request.param)


@pytest.fixture(scope="module")
def ir():
    return compile_spec(SPEC)


def start_weights(ir):
    weights = initial_weights(ir)
    weights["norm/moving_mean"] = np.linspace(-0.5, 0.5, 5).astype(np.float32)
    weights["norm/moving_variance"] = np.linspace(0.5, 2.0, 5).astype(np.float32)
    return weights


def batch(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return {"input": rng.normal(size=(n, 6)).astype(np.float32)}, {"out": rng.integers(0, 3, n).astype(np.int64)}


def masks(n=8, seed=1):
    return {"drop": (np.random.default_rng(seed).random((n, 4)) >= 0.5).astype(np.float32)}


def test_frozen_layers_are_not_trained_and_frozen_batch_norm_uses_its_moving_statistics(backend, ir):
    weights = start_weights(ir)
    model = backend.build(ir, weights)
    counts = model.layer_param_counts()
    assert counts["hidden"] == (0, 35) and counts["norm"] == (0, 20) and counts["mid"] == (24, 0)
    x, y = batch()
    layers = [layer for layer in SPEC["model"]["layers"] if layer["type"] != "dropout"]
    no_dropout = compile_spec({**SPEC, "model": {**SPEC["model"], "layers": layers}})
    plain = backend.build(no_dropout, {k: v for k, v in weights.items()})
    np.testing.assert_allclose(plain.forward(x, training=True)["out"], plain.forward(x, training=False)["out"],
                               rtol=1e-6, atol=1e-6)  # the frozen batch norm: inference mode in training too
    losses, grads = model.loss_and_gradients(x, y, dropout_masks=masks())
    assert set(grads) == {"mid/kernel", "mid/bias", "out/kernel", "out/bias"}
    for _ in range(3):
        model.train_step(x, y, learning_rate=0.1, dropout_masks=masks())
    after = model.get_weights()
    for key in FROZEN:
        np.testing.assert_array_equal(after[key], weights[key], err_msg=key)
    assert not np.array_equal(after["mid/kernel"], weights["mid/kernel"])
    # the frozen kernel's L2 penalty (0.5·Σw², large) is not part of the loss, as in Keras
    free = backend.build(with_trainable(ir, {"hidden": True}), weights)
    penalty = 0.5 * float(np.square(weights["hidden/kernel"], dtype=np.float64).sum())
    unfrozen_losses, _ = free.loss_and_gradients(x, y, dropout_masks=masks())
    assert unfrozen_losses["loss"] == pytest.approx(losses["loss"] + penalty, rel=1e-5)


def test_unfreezing_trains_the_layers_with_a_fresh_optimizer(backend, ir):
    model = backend.build(ir, start_weights(ir))
    x, y = batch()
    for _ in range(2):
        model.train_step(x, y, learning_rate=0.01, dropout_masks=masks())
    assert int(model.optimizer_state()["iterations"]) == 2
    unfrozen = with_trainable(ir, {name: True for name in frozen_nodes(ir)})
    model.set_trainable(unfrozen)
    assert model.ir == unfrozen and model.layer_param_counts()["norm"] == (10, 10)
    assert model.optimizer_state() == {}  # a fresh optimizer
    before = model.get_weights()
    model.train_step(x, y, learning_rate=0.01, dropout_masks=masks())
    after = model.get_weights()
    state = model.optimizer_state()
    assert int(state["iterations"]) == 1 and "hidden/kernel/m" in state and "norm/gamma/v" in state
    for key in FROZEN:  # trained now; the batch norm uses (and updates) batch statistics again
        assert not np.array_equal(after[key], before[key]), key
    with pytest.raises(ValueError, match="set_trainable needs the model's own IR"):
        model.set_trainable(compile_spec({**SPEC, "model": {**SPEC["model"], "input_shape": [7]}}))


def test_unfrozen_models_agree_across_backends(ir):
    """The same two-phase schedule on every backend: the weights agree within the conformance tolerance."""
    results = {}
    for name in BACKENDS:
        model = _backend(name).build(ir, start_weights(ir))
        for step in range(6):
            if step == 3:
                model.set_trainable(with_trainable(ir, {"hidden": True, "norm": True}))
            x, y = batch(step)
            model.train_step(x, y, learning_rate=0.01, dropout_masks=masks(seed=step))
        results[name] = model.get_weights()
    for name in BACKENDS[1:]:
        for key, value in results["keras"].items():
            np.testing.assert_allclose(results[name][key], value, rtol=2e-5, atol=2e-6, err_msg=f"{name} {key}")


def test_optimizer_state_moves_between_backends(ir):
    """set_optimizer_state takes any backend's canonical state: the next step is the same everywhere."""
    source = _backend("torch").build(ir, start_weights(ir))
    x, y = batch()
    for step in range(3):
        source.train_step(x, y, learning_rate=0.01, dropout_masks=masks(seed=step))
    state, weights = source.optimizer_state(), source.get_weights()
    assert set(state) >= {"iterations", "u_product", "mid/kernel/m", "out/bias/v"}
    source.train_step(x, y, learning_rate=0.01, dropout_masks=masks(seed=9))
    want = source.get_weights()
    for name in BACKENDS:
        model = _backend(name).build(ir, weights)
        model.set_optimizer_state(state)
        back = model.optimizer_state()
        assert set(back) == set(state)
        for key, value in state.items():
            np.testing.assert_allclose(back[key], value, rtol=1e-6, err_msg=f"{name} {key}")
        model.train_step(x, y, learning_rate=0.01, dropout_masks=masks(seed=9))
        got = model.get_weights()
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-7, err_msg=f"{name} {key}")
        model.set_optimizer_state({})  # an empty state: a fresh optimizer
        assert model.optimizer_state() == {}
        with pytest.raises(ValueError, match="missing mid/bias/m"):
            model.set_optimizer_state({k: v for k, v in state.items() if k != "mid/bias/m"})
        with pytest.raises(ValueError, match="unknown hidden/kernel/m"):
            model.set_optimizer_state({**state, "hidden/kernel/m": np.zeros((6, 5), np.float32)})


def test_split_optimizer_state_checks_shapes(ir):
    state = {"iterations": np.asarray(1), "u_product": np.asarray(0.9)}
    for key in ("mid/kernel", "mid/bias", "out/kernel", "out/bias"):
        shape = ir.node(key.split("/")[0]).param(key.split("/")[1]).shape
        state.update({f"{key}/m": np.zeros(shape), f"{key}/v": np.zeros(shape)})
    slots, scalars = split_optimizer_state(state, ir)
    assert set(slots["mid/kernel"]) == {"m", "v"} and set(scalars) == {"iterations", "u_product"}
    with pytest.raises(ValueError, match=r"'mid/kernel/m' has shape \(4, 6\), expected \(5, 4\)"):
        split_optimizer_state({**state, "mid/kernel/m": np.zeros((4, 6))}, ir)


def test_random_state_replays_the_dropout_masks(backend, ir):
    model = backend.build(ir, start_weights(ir))
    x, y = batch()
    model.train_step(x, y, learning_rate=0.01)  # framework-drawn dropout
    saved, weights, state = model.random_state(), model.get_weights(), model.optimizer_state()
    first = model.train_step(x, y, learning_rate=0.01)
    again = backend.build(ir, weights)
    again.set_optimizer_state(state)
    again.set_random_state(saved)
    second = again.train_step(x, y, learning_rate=0.01)
    assert second.losses == first.losses
    np.testing.assert_array_equal(second.outputs["out"], first.outputs["out"])
    with pytest.raises(ValueError):
        again.set_random_state({"nonsense": np.zeros(2)})
