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
