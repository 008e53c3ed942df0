"""`dnnc inspect SPEC|RUN_DIR`: outputs, run directories, weights, usage errors and disagreements."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from support.paths import EXAMPLES

runner = CliRunner()

SMALL = """
spec_version = 1
name = "small"
[data]
dataset = { type = "gaussian", rows = 64, shape = [6], classes = 3, seed = 0 }
validation_split = 0.25
[model]
input_shape = [6]
defaults = { kernel_init = "he_normal" }
layers = [
  { type = "dense", units = 5, activation = "relu" },
  { type = "dense", units = 5, activation = "sigmoid" },
  { type = "dense", units = 3, activation = "softmax" },
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = { type = "sgd", learning_rate = 0.5 }
batch_size = 8
epochs = 2
"""

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def invoke(*args):
    return runner.invoke(app, ["inspect", *map(str, args)])


def stats(directory):
    return json.loads((directory / "stats.json").read_text())


def test_two_backends_side_by_side(tmp_path):
    out = tmp_path / "he"
    result = invoke(EXAMPLES / "init_histograms_relu_he.toml", "--backends", "keras,torch", "-o", out)
    assert result.exit_code == 0, result.output
    assert "1-layer" in result.output and "agreement of torch with keras: PASS" in result.output
    for name in ("activations.png", "gradients.png", "weight_gradients.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert not (out / "pre_activations.png").exists()
    doc = stats(out)
    assert doc["agreement"]["verdict"] == "PASS" and doc["agreement"]["reference"] == "keras"
    assert list(doc["backends"]) == ["keras", "torch"] and doc["rows"] == 1000 and doc["split"] == "train"
    assert doc["weights"] == "initial (seed 0)" and doc["mode"] == "inference"
    layers = doc["backends"]["torch"]["layers"]
    assert [row["title"] for row in layers] == [f"{i}-layer" for i in range(1, 7)]
    assert layers[0]["parameters"]["kernel"]["weights"]["std"] == pytest.approx(
        np.sqrt(2 / 100), rel=0.03)  # He normal
    from matplotlib.image import imread

    height, width = imread(out / "activations.png").shape[:2]
    assert width > 2 * height  # a row of six panels per backend, two rows


def test_rows_split_and_pre_activations(small, tmp_path):
    out = tmp_path / "o"
    result = invoke(small, "-b", "numpy", "--split", "validation", "--rows", "10", "--pre-activations", "-o", out)
    assert result.exit_code == 0, result.output
    doc = stats(out)
    assert (doc["rows"], doc["split"], "agreement" in doc) == (10, "validation", False)
    assert (out / "pre_activations.png").read_bytes()[:8] == PNG
    first = doc["backends"]["numpy"]["layers"][0]
    assert set(first["activations"]) >= {"zero_fraction", "dead_units"} and "pre_activations" in first
    assert invoke(small, "-b", "numpy", "--rows", "1000", "-o", out).exit_code == 0
    assert stats(out)["rows"] == 48  # all the training rows


def test_a_run_directory_is_inspected_with_its_final_weights(small, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(small), "--backend", "numpy", "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    result = invoke(run)
    assert result.exit_code == 0, result.output
    trained = stats(run / "inspect")
    assert list(trained["backends"]) == ["numpy"] and trained["weights"].endswith("(trained)")
    weights = np.load(run / "weights.npz")
    kernel = trained["backends"]["numpy"]["layers"][0]["parameters"]["kernel"]["weights"]
    assert kernel["mean"] == pytest.approx(float(weights["dense/kernel"].astype(np.float64).mean()), rel=1e-6)
    # the same weights through the spec, and the run's initial weights
    assert invoke(small, "-b", "numpy", "--weights", run, "-o", tmp_path / "spec").exit_code == 0
    assert stats(tmp_path / "spec")["backends"] == trained["backends"]
    assert invoke(run, "--weights", "initial", "-o", tmp_path / "initial").exit_code == 0
    assert stats(tmp_path / "initial")["backends"] != trained["backends"]
    result = invoke(run, "--set", "training.seed=1")
    assert result.exit_code == 1 and "--set changes a spec" in result.output


@pytest.mark.parametrize("args, code, fragment", [
    ((), 2, "name a backend"),
    (("-b", "numpy", "--backends", "numpy,torch"), 2, "exclusive"),
    (("--backends", "numpy"), 2, "at least two backends"),
    (("--backends", "numpy,numpy"), 1, "each backend once"),
    (("-b", "numpy", "--split", "tests"), 1, "split must be one of train, validation, test (received 'tests')"),
    (("-b", "numpy", "--split", "test"), 1, "the data of 'small' has no test rows"),
    (("-b", "nope",), 1, "unknown backend 'nope'"),
])
def test_usage_and_data_errors(small, tmp_path, args, code, fragment):
    result = invoke(small, *args, "-o", tmp_path / "o")
    assert result.exit_code == code, result.output
    assert fragment in " ".join(result.output.split())


def test_weights_that_do_not_fit_are_refused(small, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"dense/kernel": np.zeros((6, 5), np.float32)})
    result = invoke(small, "-b", "numpy", "--weights", bad)
    assert result.exit_code == 1
    assert "cannot use these weights for model 'small'" in result.output and "missing" in result.output


def test_a_disagreement_fails_like_a_conformance_check(small, tmp_path, monkeypatch):
    from dnnc.inspection import run as run_module

    real = run_module.inspect_model

    def skewed(model, *args, **kwargs):
        inspection = real(model, *args, **kwargs)
        if model.backend_name == "torch":
            inspection.layers[1].output_gradient = inspection.layers[1].output_gradient * np.float32(1.01)
        return inspection

    monkeypatch.setattr(run_module, "inspect_model", skewed)
    result = invoke(small, "--backends", "numpy,torch", "-o", tmp_path / "o")
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "FAIL [inspect] torch vs numpy: output gradients of dense_1[" in text
    assert "agreement of torch with numpy: FAIL" in text
    doc = stats(tmp_path / "o")
    assert doc["agreement"]["verdict"] == "FAIL" and doc["agreement"]["failures"]
