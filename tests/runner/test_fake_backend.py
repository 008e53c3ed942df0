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
    eps = 1e-3
    w = model.get_weights()
    for idx in [(0, 0), (1, 2)]:
        for sign, store in ((1, "plus"), (-1, "minus")):
            w2 = {k: v.astype(np.float64).copy() for k, v in w.items()}
            w2[key][idx] += sign * eps
            model.w = {k: v for k, v in w2.items()}
            val = model._losses(model._forward(x, False, None)[0], y, None)[0]["loss"]
            if sign == 1:
                plus = val
            else:
                minus = val
        model.set_weights(w)
        assert grads[key][idx] == pytest.approx((plus - minus) / (2 * eps), rel=1e-3, abs=1e-6)


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
