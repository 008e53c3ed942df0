"""`dnnc conform --level numeric` on a spec with frozen dense and batch-norm layers (and trainable ones)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from dnnc.plugins.manager import get_registry

FROZEN_SPEC = """
name = "frozen-conform"
[data]
dataset = { type = "xor", repeat = 16, noise = 0.2 }
[model]
input_shape = [2]
layers = [
  { type = "dense", name = "hidden", units = 16, activation = "relu", trainable = false, kernel_regularizer = "l2" },
  { type = "batch_norm", name = "norm", trainable = false },
  { type = "dense", units = 8, activation = "tanh", kernel_regularizer = { type = "l2", l2 = 0.001 } },
  { type = "batch_norm" },
  { type = "dropout", rate = 0.2 },
  { type = "dense", units = 1, activation = "sigmoid" },
]
[training]
loss = "binary_crossentropy"
metrics = ["accuracy"]
optimizer = { type = "adam", learning_rate = 0.01 }
batch_size = 8
"""


def _available(name: str) -> bool:
    backend = get_registry().backends.get(name)
    return backend is not None and backend.status()[0]


@pytest.mark.skipif(not (_available("keras") and _available("torch")), reason="needs the keras and torch backends")
def test_numeric_level_passes_with_frozen_dense_and_batch_norm_layers(tmp_path):
    spec = tmp_path / "frozen.toml"
    spec.write_text(FROZEN_SPEC)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["conform", str(spec), "--level", "numeric", "--backends", "keras,torch",
                                      "--report", str(report)])
    assert result.exit_code == 0, result.output
    level = json.loads(report.read_text())["levels"]["numeric"]
    assert level["verdict"] == "PASS"
    checks = level["checks"]
    # frozen parameters have no gradient and are compared along the trajectory like the others
    assert not any(c["name"] == "gradient" and c["target"].startswith(("hidden/", "norm/")) for c in checks)
    assert any(c["name"] == "trajectory weights" and c["target"].startswith("norm/moving_mean") for c in checks)
    assert any(c["name"] == "moving statistics" and c["target"].startswith("batch_norm/") for c in checks)
