"""`dnnc convert` between backends, and the numeric conformance level for every optimizer family."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from dnnc.conformance.conform import run_conform
from dnnc.conformance.options import ConformOptions
from dnnc.runner.api import compile_with_overrides
from conftest import EXAMPLES

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


OPTIMIZERS = {
    "sgd_nesterov": '{ type = "sgd", learning_rate = 0.05, momentum = 0.9, nesterov = true }',
    "sgd_schedule": '{ type = "sgd", learning_rate = { type = "exponential_decay", initial_learning_rate = 0.1, decay_steps = 5, decay_rate = 0.5 } }',
    "adam_amsgrad_clipnorm": '{ type = "adam", amsgrad = true, clipnorm = 0.5 }',
    "adamw_global_clipnorm": '{ type = "adamw", global_clipnorm = 1.0 }',
    "nadam_cosine": '{ type = "nadam", learning_rate = { type = "cosine_decay", initial_learning_rate = 0.01, decay_steps = 10 } }',
    "adamax_clipvalue": '{ type = "adamax", clipvalue = 0.01 }',
    "rmsprop_centered_momentum": '{ type = "rmsprop", centered = true, momentum = 0.5, weight_decay = 0.01 }',
    "adagrad_piecewise": '{ type = "adagrad", learning_rate = { type = "piecewise_constant", boundaries = [5, 10], values = [0.1, 0.05, 0.01] } }',
    "adadelta_polynomial": '{ type = "adadelta", learning_rate = { type = "polynomial_decay", initial_learning_rate = 1.0, decay_steps = 15 } }',
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_numeric_conformance_for_every_optimizer(name, data_dir):
    overrides = [f"training.optimizer={OPTIMIZERS[name]}",
                 'model.defaults.kernel_regularizer={ type = "l1_l2", l1 = 1e-5, l2 = 1e-4 }']
    _, ir = compile_with_overrides(EXAMPLES / "mnist_784_64_10_sigmoid.toml", overrides)
    report = run_conform(ir, ["keras", "torch"], ConformOptions(levels=("numeric",)),
                         spec_path=EXAMPLES / "mnist_784_64_10_sigmoid.toml")
    data = report.to_dict()
    assert data["verdict"] == "PASS", data["failures"]
