"""What every backend shares from dnnc.backends.base: the checks of what a step receives (one message each,
the same through every backend), the regularised parameters and the names of the losses."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dnnc.backends.base import BatchChecks, Penalty, loss_keys, named_losses, penalties
from dnnc.compiler.compile import compile_spec
from dnnc.compiler.initial_weights import initial_weights
from dnnc.plugins.manager import get_registry

BACKENDS = ("keras", "torch", "numpy")

LAYERS = [
    {"name": "flat", "type": "flatten", "inputs": ["deep"]},
    {"name": "h", "type": "dense", "units": 4, "activation": "relu",
     "kernel_regularizer": {"type": "l1_l2", "l1": 0.01, "l2": 0.02}, "bias_regularizer": {"type": "l2", "l2": 0.05},
     "bias_init": {"type": "random_uniform", "minval": -0.5, "maxval": 0.5}},
    {"name": "drop", "type": "dropout", "rate": 0.5},
    {"name": "concat", "type": "concatenate", "inputs": ["wide", "drop"]},
    {"name": "main", "type": "dense", "units": 1},
    {"name": "aux", "type": "dense", "units": 2, "inputs": ["h"]},
]
MODEL = {"inputs": [{"name": "wide", "shape": [5]}, {"name": "deep", "shape": [2, 3]}], "layers": LAYERS,
         "outputs": ["main", "aux"]}
TRAINING = {"loss": {"main": "mse", "aux": "mse"}, "loss_weights": {"main": 0.9, "aux": 0.1}, "optimizer": "sgd"}
SPEC = {"model": MODEL, "training": TRAINING}


def batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {"wide": rng.normal(size=(n, 5)).astype(np.float32), "deep": rng.normal(size=(n, 2, 3)).astype(np.float32)}
    targets = {"main": rng.normal(size=(n, 1)).astype(np.float32), "aux": rng.normal(size=(n, 2)).astype(np.float32)}
    return inputs, targets


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    backend = get_registry().backends.get(request.param)
    if backend is None:
        pytest.skip(f"backend {request.param!r} is not registered")
    ok, detail = backend.status()
    if not ok:
        pytest.skip(f"backend {request.param!r} is unavailable: {detail}")
    return backend


@pytest.fixture(scope="module")
def model(backend):
    ir = compile_spec(SPEC, name="m")
    return backend.build(ir, initial_weights(ir))


def raises(message: str):
    return pytest.raises(ValueError, match="^" + re.escape(message) + "$")


def test_missing_input(model):
    inputs, _ = batch()
    with raises("inputs must be given for ['wide', 'deep'] (received ['wide'])"):
        model.forward({"wide": inputs["wide"]})


def test_input_of_the_wrong_shape(model):
    inputs, targets = batch()
    with raises("input 'deep' must have shape (batch, 2, 3) (received (4, 3, 2))"):
        model.forward({**inputs, "deep": inputs["deep"].reshape(4, 3, 2)})
    with raises("input 'wide' must have shape (batch, 5) (received ())"):
        model.evaluate_step({**inputs, "wide": np.float32(1.0)}, targets)


def test_missing_target(model):
    inputs, targets = batch()
    with raises("targets must be given for ['main', 'aux'] (received ['main'])"):
        model.evaluate_step(inputs, {"main": targets["main"]})
    with raises("targets must be given for ['main', 'aux'] (received ['main'])"):
        model.loss_and_gradients(inputs, {"main": targets["main"]})


def test_model_without_a_loss(backend):
    ir = compile_spec({"model": MODEL}, name="m")
    inputs, targets = batch()
    with raises("model 'm' has no output with a loss: set training.loss in the spec"):
        backend.build(ir, initial_weights(ir)).evaluate_step(inputs, targets)


def test_mask_of_a_layer_that_is_not_dropout(model):
    inputs, _ = batch()
    with raises("dropout masks given for ['h'], which are not dropout layers (dropout layers: ['drop'])"):
        model.forward(inputs, training=True, dropout_masks={"h": np.ones((4, 4), np.float32)})


def test_mask_of_the_wrong_shape(model):
    inputs, _ = batch()
    with raises("the dropout mask of 'drop' must have shape (batch, 4) (received (4, 5))"):
        model.forward(inputs, training=True, dropout_masks={"drop": np.ones((4, 5), np.float32)})


def test_losses_are_named_alike_and_carry_the_penalties(backend, model):
    ir = model.ir
    assert loss_keys(ir) == ("loss", "main_loss", "aux_loss")
    inputs, targets = batch()
    losses = model.evaluate_step(inputs, targets).losses
    assert tuple(losses) == loss_keys(ir)
    # the total is the weighted sum of the outputs' losses plus the penalties of dnnc.backends.base.penalties
    weights = model.get_weights()
    penalty = sum(p.l1 * np.abs(weights[p.key]).sum(dtype=np.float64)
                  + p.l2 * np.square(weights[p.key], dtype=np.float64).sum() for p in penalties(ir))
    assert penalty > 0.01
    expected = 0.9 * losses["main_loss"] + 0.1 * losses["aux_loss"] + penalty
    assert losses["loss"] == pytest.approx(expected, rel=1e-5)

    single = compile_spec({"model": {"input_shape": [3], "layers": [{"type": "dense", "units": 2}]},
                           "training": {"loss": "mse", "optimizer": "sgd"}}, name="s")
    assert loss_keys(single) == ("loss",)
    x = np.ones((2, 3), np.float32)
    result = backend.build(single, initial_weights(single)).evaluate_step({"input": x}, {"dense": np.zeros((2, 2))})
    assert tuple(result.losses) == ("loss",)


def test_shared_helpers_directly():
    ir = compile_spec(SPEC, name="m")
    assert penalties(ir) == [Penalty("h/kernel", 0.01, 0.02), Penalty("h/bias", 0.0, 0.05)]
    assert named_losses(("loss",), [1.5, 2.0]) == {"loss": 1.5}
    assert named_losses(loss_keys(ir), [3, 1, 2]) == {"loss": 3.0, "main_loss": 1.0, "aux_loss": 2.0}
    checks = BatchChecks(ir)
    inputs, targets = batch()
    ordered = checks.inputs({"deep": inputs["deep"], "wide": inputs["wide"]})  # returned in ir.inputs order
    assert ordered[0] is inputs["wide"] and ordered[1] is inputs["deep"]
    assert checks.dropout_masks(None) is None and checks.dropout_masks({}) is None
    assert [out.name for _, out in checks.loss_outputs] == ["main", "aux"]
    assert checks.targets(targets)[1] is targets["aux"]
