"""`data.as_sequence` and the recurrent MNIST examples: images read as 28 steps of 28 pixels, the examples
validate with Keras's parameter counts (tests/compiler/test_examples_validate.py) and train a few batches on
both backends, which follow one trajectory."""

from __future__ import annotations

import numpy as np
import pytest

import dnnc
from dnnc.compiler.errors import SpecError
from dnnc.runner import train
from dnnc.runner.api import get_backend, load_datasets
from dnnc.runner.datasets import Datasets
from support.paths import EXAMPLES


def _load(ir, data_dir):
    return load_datasets(ir, base_dir=None, data_dir=data_dir, download=False)


def test_as_sequence_gives_image_rows_as_steps(data_dir):
    seq = dnnc.compile_spec(EXAMPLES / "mnist_lstm.toml")
    flat = dnnc.compile_spec(EXAMPLES / "mnist_784_64_10_sigmoid.toml")
    a, b = _load(seq, data_dir), _load(flat, data_dir)
    x, rows = a.train.inputs["input"], b.train.inputs["input"]
    assert x.shape[1:] == (28, 28) and x.dtype == np.float32
    n = min(len(x), 100)
    # step t of a sample is row t of the image: pixels 28·t … 28·t + 27 of the flattened image
    np.testing.assert_array_equal(x[:n, 5, :], rows[:n, 140:168])


@pytest.mark.parametrize("data, model, where, text", [
    ({"dataset": "xor", "as_sequence": True}, {"input_shape": [2]}, "data", "mnist and fashion_mnist"),
    ({"dataset": "mnist", "as_sequence": True, "reshape": [28, 28]}, {"input_shape": [28, 28]}, "data", "exclusive"),
    ({"dataset": "mnist", "as_sequence": True}, {"input_shape": [784]}, "data.as_sequence", "one input of shape [28, 28]"),
])
def test_as_sequence_errors_are_located(data, model, where, text):
    spec = {"data": data, "model": {**model, "layers": [{"type": "dense", "units": 2}]},
            "training": {"loss": "mse", "optimizer": "sgd"}}
    with pytest.raises(SpecError) as info:
        dnnc.compile_spec(spec, name="m")
    assert text in str(info.value) and f" {where}" in str(info.value)


@pytest.mark.parametrize("example", ["mnist_lstm.toml", "mnist_gru.toml"])
def test_recurrent_example_trains_a_few_batches_identically_on_both_backends(example, data_dir):
    ir = dnnc.compile_spec(EXAMPLES / example)
    ds = _load(ir, data_dir)
    small = Datasets(train=ds.train.take(slice(0, 384)), validation=ds.validation.take(slice(0, 128)), test=None)
    weights = dnnc.initial_weights(ir)
    runs = {}
    for name in ("torch", "keras"):
        try:
            backend = get_backend(name, ir)
        except Exception as exc:  # pragma: no cover - a backend that is not installed
            pytest.skip(f"backend {name} unavailable: {exc}")
        model = backend.build(ir, weights)
        runs[name] = (train(model, ir, small, epochs=1).history, model.get_weights())
    (ht, wt), (hk, wk) = runs["torch"], runs["keras"]
    assert np.isfinite(ht["loss"][0]) and ht["loss"][0] < np.log(10)  # three Adam steps from chance level
    for key in ht:
        np.testing.assert_allclose(ht[key], hk[key], rtol=2e-5, atol=1e-6, err_msg=key)
    for key in wt:
        np.testing.assert_allclose(wt[key], wk[key], rtol=0, atol=2e-6, err_msg=key)


def test_recurrent_dropout_under_strict_parity_is_one_trajectory_on_both_backends(data_dir):
    """dnnc draws the per-sequence masks (input and per-gate state masks): Keras and torch train identically."""
    import tomllib

    data = tomllib.loads((EXAMPLES / "mnist_gru.toml").read_text())
    data["model"]["layers"][0] = {"type": "gru", "units": 16, "dropout": 0.2, "recurrent_dropout": 0.3}
    data["training"]["strict_parity"] = True
    data["training"]["batch_size"] = 64
    ir = dnnc.compile_spec(data, name="gru-dropout")
    ds = _load(ir, data_dir)
    small = Datasets(train=ds.train.take(slice(0, 256)), validation=ds.validation.take(slice(0, 64)), test=None)
    weights = dnnc.initial_weights(ir)
    runs = {}
    for name in ("torch", "keras"):
        model = get_backend(name, ir).build(ir, weights)
        runs[name] = (train(model, ir, small, epochs=1).history, model.get_weights())
    (ht, wt), (hk, wk) = runs["torch"], runs["keras"]
    for key in ht:
        np.testing.assert_allclose(ht[key], hk[key], rtol=2e-5, atol=1e-6, err_msg=key)
    for key in wt:
        np.testing.assert_allclose(wt[key], wk[key], rtol=0, atol=2e-6, err_msg=key)
