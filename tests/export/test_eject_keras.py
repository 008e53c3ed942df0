"""The ejected Keras module is dnnc's Keras model: same outputs, losses, gradients and statistics.

For every example (and tests/export/specs: frozen layers): the module, loaded with the same canonical weights, gives
dnnc's inference outputs, the same training-mode loss
(``model.compute_loss`` of the compiled module, which adds the regularizers'
penalties) and gradients for a batch (the same dropout masks, put in place of the
Dropout layers' draws), the same batch-norm moving statistics after that pass,
and its ``fit`` call runs.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dnnc.eject.context import EjectContext  # noqa: E402
from dnnc.eject.keras_emitters import EMITTERS  # noqa: E402
from dnnc.numerics.heads import apply_head  # noqa: E402
from dnnc.runner.api import get_backend  # noqa: E402
from support.ejected import (EXAMPLE_NAMES, batch, dropout_masks, ejected_with_weights, example_ir,  # noqa: E402
                             load_ejected)


def _bindings(ir):
    ctx = EjectContext(ir, "keras", layer_names={n.name for n in ir.nodes})
    return {f"{node.name}/{w.param}": (w.layer, w.attribute)
            for node in ir.nodes for w in EMITTERS[node.op](node, ctx).weights}


def _pack(ir, arrays, names):
    return arrays[names[0]] if len(names) == 1 else {n: arrays[n] for n in names}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("eject_keras")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_ejected_keras_module_is_dnnc_model(name, workdir, tmp_path, monkeypatch):
    import tensorflow as tf

    monkeypatch.chdir(tmp_path)
    ir, weights, mod = ejected_with_weights(name, "keras", workdir)
    ref = get_backend("keras", ir).build(ir, weights)
    model = mod.compile_model(mod.build_model())
    x, y = batch(ir, n=8)
    inputs = _pack(ir, x, list(ir.inputs))
    out_names = [o.name for o in ir.outputs]

    got = model(inputs, training=False)
    got = {out_names[0]: got} if len(out_names) == 1 else got
    want = ref.forward(x)
    for out in ir.outputs:  # within 1e-6 of the output's scale (float32 logits reach ~12 with N(0, 1) kernels)
        scale = max(1.0, float(np.max(np.abs(want[out.name]))))
        np.testing.assert_allclose(np.asarray(got[out.name]), want[out.name], rtol=0, atol=1e-6 * scale)
    predicted = mod.predict(model, inputs)
    predicted = {out_names[0]: predicted} if len(out_names) == 1 else predicted
    for out in ir.outputs:
        np.testing.assert_allclose(predicted[out.name], apply_head(out.head, want[out.name]), atol=1e-6)

    masks = dropout_masks(ir, 8)
    for node in ir.nodes:
        if node.name in masks:  # Dropout and SpatialDropout2D, both channels-last
            layer, mask, rate = model.get_layer(node.name), tf.constant(masks[node.name]), node.attrs.rate
            layer.call = lambda inputs, training=None, mask=mask, rate=rate: inputs * mask / (1.0 - rate)
    bindings = _bindings(ir)
    trainable = {k: getattr(model.get_layer(layer), attr) for k, (layer, attr) in bindings.items()
                 if not k.endswith(("moving_mean", "moving_variance"))}
    with tf.GradientTape() as tape:
        y_pred = model(inputs, training=True)
        loss = model.compute_loss(x=inputs, y=_pack(ir, y, out_names), y_pred=y_pred, training=True)
    grads = dict(zip(trainable, tape.gradient(loss, list(trainable.values()))))
    want_losses, want_grads = ref.loss_and_gradients(x, y, training=True, dropout_masks=masks or None)
    assert float(loss) == pytest.approx(want_losses["loss"], rel=1e-6, abs=1e-7)
    for key, grad in want_grads.items():
        np.testing.assert_allclose(np.asarray(grads[key]), grad, rtol=1e-5, atol=1e-6, err_msg=key)
    after = ref.get_weights()
    for key, (layer, attr) in bindings.items():
        if key.endswith(("moving_mean", "moving_variance")):
            value = np.asarray(getattr(model.get_layer(layer), attr).value)
            np.testing.assert_allclose(value, after[key], atol=1e-7, err_msg=key)


#: fit on the examples with distinct features (batch norm and dropout, two inputs and outputs, XOR's binary
#: output, SGD, the histograms callback, regression with early stopping), frozen layers and the 2-D spatial ops
#: (convolutions, pooling, spatial dropout); the other examples differ from these only in sizes, initializers
#: and ops whose layers these use too, which the equivalence test above covers.
FIT_CASES = ["mnist_bn_dropout", "wide_and_deep", "xor", "fashion_mlp_sgd", "init_histograms_relu_he",
             "housing_search", "frozen_layers"]


@pytest.mark.parametrize("name", FIT_CASES)
def test_ejected_keras_fit_runs(name, workdir, tmp_path, monkeypatch):
    """fit with the spec's batch size and callbacks runs (one epoch of a few batches)."""
    monkeypatch.chdir(tmp_path)
    ir = example_ir(name)
    mod = load_ejected(ir, "keras", workdir, tag="_fit")
    x, y = batch(ir, n=2 * ir.training.batch_size + 3, seed=3)
    split = {"inputs": x, "targets": y, "sample_weight": None}
    model = mod.compile_model(mod.build_model())
    history = mod.train(model, {"train": split, "validation": split, "test": None}, epochs=1)
    assert np.isfinite(history.history["loss"][0])
    assert set(mod.evaluate(model, split)) >= {"loss"}
