"""The NumPy fake backend of tests/support is right: exact gradients, artifacts that round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from support.fakes import FakeBackend, NumpyModel, ir_from_toml, xor_spec



@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_fake_gradients_match_finite_differences(loss):
    from dnnc.compiler.initial_weights import initial_weights

    text = xor_spec().replace('loss = "binary_crossentropy"', f'loss = "{loss}"')
    if loss == "mse":
        text = text.replace('activation = "sigmoid"', 'activation = "linear"').replace('metrics = ["accuracy"]', 'metrics = ["mae"]')
    ir = ir_from_toml(text)
    model = NumpyModel(ir, initial_weights(ir, 3))
    rng = np.random.default_rng(0)
    x = {"input": rng.normal(size=(5, 2)).astype(np.float32)}
    y = {ir.outputs[0].name: rng.integers(0, 2, size=(5, 1)).astype(np.float32)}
    losses, grads = model.loss_and_gradients(x, y, training=False)
    key = next(k for k in grads if k.endswith("kernel") and grads[k].shape[1] > 2)
    w = {k: v.astype(np.float64) for k, v in model.get_weights().items()}

    def loss_at(weights):
        return float(model.reference.loss_and_gradients(weights, x, y, training=False, gradients=False).losses["loss"])

    for idx in [(0, 0), (1, 2)]:
        plus, minus = ({**w, key: w[key].copy()} for _ in range(2))
        plus[key][idx] += 1e-6
        minus[key][idx] -= 1e-6
        assert grads[key][idx] == pytest.approx((loss_at(plus) - loss_at(minus)) / 2e-6, rel=1e-4, abs=1e-7)
    # the loss is the reference's (float64), and the gradients are its gradients rounded to float32
    assert losses["loss"] == loss_at(w)


def test_fake_model_save_and_load_round_trip(tmp_path):
    from dnnc.compiler.initial_weights import initial_weights

    ir = ir_from_toml(xor_spec())
    model = FakeBackend().build(ir, initial_weights(ir, 0))
    (path,) = model.save(tmp_path / "m.fake")
    loaded = FakeBackend().load(path)
    assert loaded.ir == ir
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[k], v)
    assert json.loads(ir.to_json())["name"] == "xor"
