"""`dnnc convert` between backends: predictions and weights survive the move."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from support.paths import EXAMPLES

runner = CliRunner()


@pytest.mark.parametrize("src,dst", [("keras", "torch"), ("torch", "keras")])
def test_convert_keeps_predictions(tmp_path, src, dst):
    suffix = {"keras": ".keras", "torch": ".pt"}
    spec = EXAMPLES / "mnist_bn_dropout.toml"
    first = tmp_path / f"model{suffix[src]}"
    result = runner.invoke(app, ["build", str(spec), "--backend", src, "-q", "-o", str(first), "--seed", "3"])
    assert result.exit_code == 0, result.output
    second = tmp_path / f"converted{suffix[dst]}"
    result = runner.invoke(app, ["convert", str(first), "--to", dst, "-o", str(second)])
    assert result.exit_code == 0, result.output
    assert "max |Δoutput|" in result.output

    from dnnc.plugins.manager import get_registry

    a = get_registry().backend(src).load(first)
    b = get_registry().backend(dst).load(second)
    x = {"input": np.random.default_rng(0).random((16, 784), dtype=np.float32)}
    np.testing.assert_allclose(a.forward(x)["dense_3"], b.forward(x)["dense_3"], atol=1e-5)
    weights_a, weights_b = a.get_weights(), b.get_weights()
    assert set(weights_a) == set(weights_b)
    assert all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)


TINY_CNN = """
spec_version = 1
name = "tiny-cnn"
[model]
input_shape = [7, 6, 2]
layers = [
  { type = "conv2d", filters = 3, kernel_size = [3, 2], strides = 2, padding = "same", activation = "relu" },
  { type = "batch_norm" },
  { type = "avg_pool2d", pool_size = 2, padding = "same" },
  { type = "conv2d", filters = 4, kernel_size = 2, padding = "same", groups = 1 },
  { type = "max_pool2d", pool_size = 2, strides = 1 },
  { type = "flatten" },
  { type = "dense", units = 5, activation = "softmax" },
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = "adam"
"""


@pytest.mark.parametrize("src,dst", [("keras", "torch"), ("torch", "keras")])
def test_convert_keeps_cnn_probabilities(tmp_path, src, dst):
    """A tiny CNN (asymmetric same padding, a non-square kernel, batch norm on images, both poolings, flatten
    into a dense head) moved between backends: probabilities within 1e-5 (measured 3.1e-8 both ways; logits
    1.2e-7), weights bit for bit."""
    from dnnc.compiler.initial_weights import initial_weights
    from dnnc.plugins.manager import get_registry

    spec = tmp_path / "tiny_cnn.toml"
    spec.write_text(TINY_CNN)
    ir = dnnc_compile(spec)
    suffix = {"keras": ".keras", "torch": ".pt"}
    rng = np.random.default_rng(1)
    # trained-looking weights: moved away from the initial ones, moving statistics off their defaults
    weights = {k: (v + rng.normal(0.0, 0.3, v.shape)).astype(np.float32) if "moving_variance" not in k
               else (v + rng.uniform(0.1, 1.0, v.shape)).astype(np.float32) for k, v in initial_weights(ir, 0).items()}
    first = tmp_path / f"model{suffix[src]}"
    get_registry().backend(src).build(ir, weights).save(first)
    second = tmp_path / f"converted{suffix[dst]}"
    result = runner.invoke(app, ["convert", str(first), "--to", dst, "-o", str(second)])
    assert result.exit_code == 0, result.output
    a = get_registry().backend(src).load(first)
    b = get_registry().backend(dst).load(second)
    x = {"input": np.random.default_rng(0).normal(size=(16, 7, 6, 2)).astype(np.float32)}
    from dnnc.numerics.heads import apply_head

    pa, pb = (apply_head("softmax", m.forward(x)["dense"]) for m in (a, b))  # the models emit logits
    assert pa.shape == (16, 5) and np.allclose(pa.sum(axis=1), 1.0, atol=1e-5)
    assert float(np.abs(pa - pb).max()) <= 1e-5
    weights_a, weights_b = a.get_weights(), b.get_weights()
    assert set(weights_a) == set(weights_b) and all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)


def dnnc_compile(path):
    from dnnc.compiler.compile import compile_spec

    return compile_spec(path)


def test_convert_rejects_unknown_artifacts(tmp_path):
    bogus = tmp_path / "model.xyz"
    bogus.write_text("x")
    result = runner.invoke(app, ["convert", str(bogus), "--to", "torch", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 1 and "cannot tell which backend wrote" in result.output


SEQUENCE_SPEC = """
spec_version = 1
name = "tokens-bigru-lstm"
[model]
inputs = [ { name = "tokens", shape = [6], dtype = "int64" } ]
layers = [
  { type = "embedding", input_dim = 9, output_dim = 4 },
  { type = "bidirectional", layer = { type = "gru", units = 3, return_sequences = true, reset_after = false } },
  { type = "lstm", units = 3, go_backwards = true },
  { type = "dense", units = 1, activation = "sigmoid" },
]
[training]
loss = "binary_crossentropy"
optimizer = "adam"
"""


def test_convert_keeps_a_sequence_model(tmp_path):
    """Token input, embedding, bidirectional GRU (torch's cell loop) and LSTM: weights move unchanged both ways."""
    spec = tmp_path / "tokens.toml"
    spec.write_text(SEQUENCE_SPEC)
    first, second, third = tmp_path / "a.pt", tmp_path / "b.keras", tmp_path / "c.pt"
    result = runner.invoke(app, ["build", str(spec), "--backend", "torch", "-q", "-o", str(first), "--seed", "2"])
    assert result.exit_code == 0, result.output
    for src, dst, to in ((first, second, "keras"), (second, third, "torch")):
        result = runner.invoke(app, ["convert", str(src), "--to", to, "-o", str(dst)])
        assert result.exit_code == 0, result.output
    from dnnc.plugins.manager import get_registry

    a, c = get_registry().backend("torch").load(first), get_registry().backend("torch").load(third)
    wa, wc = a.get_weights(), c.get_weights()
    assert set(wa) == set(wc) and all(np.array_equal(wa[k], wc[k]) for k in wa)
