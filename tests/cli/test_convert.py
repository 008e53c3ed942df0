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
