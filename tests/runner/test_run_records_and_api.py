"""train_spec / evaluate_run / predict, the run directory, --set overrides, JSON progress and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from dnnc.compiler.errors import SpecError
from dnnc.runner import compile_with_overrides, evaluate_run, predict, train_spec
from dnnc.numerics.heads import sigmoid, softmax
from support.fakes import DIVERGING_SPEC, use_fake_backend, xor_spec

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_backend(monkeypatch):
    return use_fake_backend(monkeypatch)


def write_spec(tmp_path, text, name="spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


IMAGE_SPEC = """
spec_version = 1
name = "digits"
[data]
dataset = { type = "npz", path = "digits.npz" }
divide_by = 255
validation_split = 0.25
test_split = 0.2
[model]
input_shape = [28, 28]
layers = [ { type = "flatten" }, { type = "dense", units = 10, activation = "softmax" } ]
[training]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy", { type = "top_k_accuracy", k = 3 }]
optimizer = { type = "sgd", learning_rate = 0.1 }
batch_size = 8
epochs = 2
"""


def digits_spec(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=60)
    x = np.zeros((60, 28, 28), dtype=np.uint8)
    for i, label in enumerate(y):  # a bright bar whose row encodes the class
        x[i, 2 + 2 * label, 4:24] = 255
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    return write_spec(tmp_path, IMAGE_SPEC)


# --------------------------------------------------------------------------
# train_spec and the run directory
# --------------------------------------------------------------------------


def test_train_spec_writes_a_complete_run_directory(tmp_path, fake_backend):
    spec = write_spec(tmp_path, xor_spec(repeat=4, epochs=3, data_extra="validation = { last = 4 }"))
    result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    run = result.run_dir
    assert result.status == "completed" and run == tmp_path / "run"
    for name in ("spec.toml", "ir.json", "manifest.json", "history.json", "metrics.json", "learning_curves.png",
                 "model.fake", "weights.npz", "train.log"):
        assert (run / name).is_file(), name
    assert (run / "spec.toml").read_bytes() == spec.read_bytes()
    log = (run / "train.log").read_text()
    assert "epoch 3/3" in log and "test test_loss" in log
    assert (run / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["backend"]["name"] == "fake"
    assert manifest["seed"] == 0 and manifest["determinism"]["strict_parity"] is False
    assert len(manifest["spec"]["sha256"]) == 64 and manifest["frameworks"]["numpy"] == np.__version__
    assert manifest["data"]["dataset"] == "xor" and manifest["data"]["rows"] == {"train": 12, "validation": 4, "test": 4}
    assert manifest["started"] <= manifest["finished"]
    history = json.loads((run / "history.json").read_text())
    assert history["epochs"] == [1, 2, 3]
    assert history["history"] == result.history.history
    assert list(history["history"]) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert json.loads((run / "metrics.json").read_text()) == result.test_metrics
    assert set(result.test_metrics) == {"test_loss", "test_accuracy"}
    with np.load(run / "weights.npz") as w:
        for k, v in result.model.get_weights().items():
            np.testing.assert_array_equal(w[k], v)


def test_default_run_dir_layout(tmp_path):
    spec = write_spec(tmp_path, xor_spec(repeat=1, epochs=1))
    a = train_spec(spec, backend="fake", runs_root=tmp_path / "runs", progress="quiet")
    b = train_spec(spec, backend="fake", runs_root=tmp_path / "runs", progress="quiet")
    assert a.run_dir.parent == tmp_path / "runs" / "xor"
    assert a.run_dir.name.endswith("-fake") and len(a.run_dir.name) == len("20260101-120000-fake")
    assert a.run_dir != b.run_dir  # same second: made unique


def test_same_spec_seed_and_backend_give_identical_histories(tmp_path):
    spec = write_spec(tmp_path, xor_spec(repeat=6, epochs=4, rate=0.3, strict="true", data_extra="validation = { last = 4 }"))
    runs = [train_spec(spec, backend="fake", out=tmp_path / f"r{i}", progress="quiet") for i in range(2)]
    assert runs[0].history.history == runs[1].history.history
    assert (runs[0].run_dir / "weights.npz").read_bytes() == (runs[1].run_dir / "weights.npz").read_bytes()
    other = train_spec(spec, backend="fake", seed=1, out=tmp_path / "r2", progress="quiet")
    assert other.history.history != runs[0].history.history


def test_epochs_and_seed_arguments(tmp_path):
    spec = write_spec(tmp_path, xor_spec(repeat=1, epochs=5))
    result = train_spec(spec, backend="fake", epochs=2, seed=7, out=tmp_path / "r", progress="quiet")
    assert result.ir.training.epochs == 2 and result.ir.training.seed == 7 and len(result.history.epochs) == 2
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["spec"]["overrides"] == ["training.epochs=2", "training.seed=7"]


# --------------------------------------------------------------------------
# --set overrides
# --------------------------------------------------------------------------


def test_overrides_are_applied_before_validation(tmp_path):
    spec = write_spec(tmp_path, xor_spec().replace('optimizer = { type = "sgd", learning_rate = 0.5 }', 'optimizer = "adam"'))
    _, ir = compile_with_overrides(spec, ["training.optimizer.learning_rate=0.01", "training.epochs=3",
                                          "model.layers[0].units=64", "data.dataset.repeat=2"])
    assert ir.training.optimizer["type"] == "adam" and ir.training.optimizer["learning_rate"] == 0.01
    assert ir.training.epochs == 3 and ir.nodes[1].shape == (64,) and ir.data["dataset"]["repeat"] == 2
    _, ir = compile_with_overrides(spec, ['training.optimizer={ type = "sgd", momentum = 0.9 }',
                                          "training.metrics=[\"accuracy\", \"mse\"]"])
    assert ir.training.optimizer["momentum"] == 0.9
    assert [m["type"] for m in ir.outputs[0].metrics] == ["binary_accuracy", "mse"]
    _, ir = compile_with_overrides(spec, ["training.optimizer=rmsprop"])  # a bare word is a string
    assert ir.training.optimizer["type"] == "rmsprop"


@pytest.mark.parametrize("override, message", [
    ("training.epochs=0", "--set training.epochs=0 training.epochs: "),
    ("training.epoch=3", "--set training.epoch=3 training.epoch: unknown key 'epoch'"),
    ("model.layers[0].units=-3", "--set model.layers[0].units=-3 model.layers[0].units:"),
    ("model.layers[7].units=3", "--set model.layers[7].units=3 model.layers: index [7] is out of range: model.layers has 3 element(s)"),
    ("training.epochs", "--set training.epochs an override must look like key=value"),
    ("training..epochs=3", "--set training..epochs=3 cannot read the key"),
    ("training.epochs=[1,", "--set training.epochs=[1, the value '[1,' is not a TOML value"),
])
def test_invalid_overrides_are_reported_against_the_set_argument(tmp_path, override, message):
    spec = write_spec(tmp_path, xor_spec())
    with pytest.raises(SpecError) as info:
        compile_with_overrides(spec, [override])
    rendered = [i.render() for i in info.value.issues]
    assert any(r.startswith(message) for r in rendered), rendered


def test_errors_elsewhere_in_the_file_keep_their_line(tmp_path):
    spec = write_spec(tmp_path, xor_spec().replace("batch_size = 4", "batch_size = 0"))
    with pytest.raises(SpecError) as info:
        compile_with_overrides(spec, ["training.epochs=2"])
    (issue,) = info.value.issues
    assert issue.file == str(spec) and issue.line is not None


# --------------------------------------------------------------------------
# evaluate / predict
# --------------------------------------------------------------------------


def test_evaluate_run_reproduces_the_test_metrics_from_any_artifact(tmp_path):
    spec = write_spec(tmp_path, xor_spec(repeat=3, epochs=2, training_extra="""
[[training.callbacks]]
type = "model_checkpoint"
path = "checkpoints/epoch-{epoch}.ckpt"
"""))
    result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    assert evaluate_run(result.run_dir) == result.test_metrics
    assert evaluate_run(result.run_dir / "model.fake") == result.test_metrics
    assert evaluate_run(result.run_dir / "checkpoints" / "epoch-2.ckpt") == result.test_metrics
    first = evaluate_run(result.run_dir / "checkpoints" / "epoch-1.ckpt")
    assert set(first) == {"test_loss", "test_accuracy"} and first != result.test_metrics


def test_predict_from_npz_and_csv(tmp_path):
    spec = write_spec(tmp_path, xor_spec(repeat=3, epochs=2))
    result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    np.savez(tmp_path / "in.npz", input=x)
    (tmp_path / "in.csv").write_text("a,b\n0,0\n0,1\n1,0\n1,1\n")
    expected = sigmoid(result.model.forward({"input": x})["dense_1"].astype(np.float64))
    for name in ("in.npz", "in.csv"):
        p = predict(result.run_dir, tmp_path / name)
        assert list(p) == ["dense_1"] and p.heads == {"dense_1": "sigmoid"} and p.rows == ["0", "1", "2", "3"]
        np.testing.assert_allclose(p["dense_1"], expected, rtol=1e-6)


def test_predict_images_applies_the_training_preprocessing(tmp_path):
    import matplotlib.image as mpimg

    spec = digits_spec(tmp_path)
    result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    assert list(result.history.history)[:3] == ["loss", "accuracy", "top_k_accuracy"]
    img = np.zeros((28, 28))
    img[2 + 2 * 7, 4:24] = 1.0
    images = tmp_path / "imgs"
    images.mkdir()
    mpimg.imsave(images / "b.png", img, cmap="gray", vmin=0, vmax=1)
    mpimg.imsave(images / "a.png", 1.0 - img, cmap="gray", vmin=0, vmax=1)  # dark on light: inverted
    p = predict(result.run_dir, images)
    assert p.rows == ["a.png", "b.png"] and p["dense"].shape == (2, 10)
    np.testing.assert_allclose(p["dense"].sum(axis=1), 1.0, rtol=1e-5)
    x = (img * 255).astype(np.float32)[None] / np.float32(255)
    expected = softmax(result.model.forward({"input": x})["dense"])
    np.testing.assert_allclose(p["dense"][1], expected[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(p["dense"][0], p["dense"][1], rtol=1e-4, atol=1e-6)
    single = predict(result.run_dir, images / "b.png")
    np.testing.assert_allclose(single["dense"][0], p["dense"][1], rtol=1e-6)


# --------------------------------------------------------------------------
# progress modes
# --------------------------------------------------------------------------


def test_json_progress_lines_parse(tmp_path, capsys):
    spec = write_spec(tmp_path, xor_spec(repeat=2, epochs=3, data_extra="validation = { last = 2 }"))
    result = train_spec(spec, backend="fake", out=tmp_path / "r", progress="json")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [l.get("epoch") for l in lines[:-1]] == [1, 2, 3] and all(l["epochs"] == 3 for l in lines[:-1])
    assert set(lines[0]) == {"epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert lines[1]["loss"] == result.history.history["loss"][1]
    assert lines[-1] == result.test_metrics and set(lines[-1]) == {"test_loss", "test_accuracy"}


# --------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------


def test_cli_train_evaluate_predict(tmp_path):
    spec = write_spec(tmp_path, xor_spec(repeat=2, epochs=2))
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--json", "--out", str(out),
                            "--set", "training.optimizer.learning_rate=0.1", "--epochs", "3"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == 4 and lines[-1]["test_accuracy"] >= 0
    assert f"run directory: {out}" in r.stderr
    assert json.loads((out / "ir.json").read_text())["training"]["optimizer"]["learning_rate"] == 0.1

    r = runner.invoke(app, ["evaluate", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == lines[-1]
    r = runner.invoke(app, ["evaluate", str(out)])
    assert r.exit_code == 0 and "test_accuracy" in r.stdout

    np.savez(tmp_path / "x.npz", x=np.array([[0, 1], [1, 1]], dtype=np.float32))
    r = runner.invoke(app, ["predict", str(out), str(tmp_path / "x.npz"), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["rows"] == ["0", "1"] and np.array(data["outputs"]["dense_1"]).shape == (2, 1)
    r = runner.invoke(app, ["predict", str(out), str(tmp_path / "x.npz")])
    assert r.exit_code == 0 and "Probability" in r.stdout

    r = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--quiet", "--out", str(tmp_path / "q")])
    assert r.exit_code == 0 and "test_loss" in r.stdout and "Epoch" not in r.stdout


def test_cli_rich_output_shows_epochs_and_table(tmp_path):
    spec = write_spec(tmp_path, xor_spec(repeat=2, epochs=2))
    r = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert "Epoch 1/2" in r.stdout and "Epoch 2/2" in r.stdout and "Training history" in r.stdout
    assert "Test" in r.stdout and "run directory" in r.stdout


@pytest.mark.parametrize("args, code, text", [
    (["--backend", "nope"], 1, "unknown backend 'nope'"),
    (["--backend", "fake", "--set", "training.epochs=0"], 2, "--set training.epochs=0 training.epochs"),
    (["--backend", "fake", "--set", "model.input_shape=[3]"], 1, "input 'input': samples of shape (2,) (2 values) cannot be reshaped to (3,)"),
    (["--backend", "fake", "--quiet", "--json"], 2, "--quiet and --json are exclusive"),
])
def test_cli_train_errors(tmp_path, args, code, text):
    spec = write_spec(tmp_path, xor_spec(repeat=1, epochs=1))
    r = runner.invoke(app, ["train", str(spec), "--out", str(tmp_path / "run"), *args])
    assert r.exit_code == code, r.output
    assert text in " ".join(r.stderr.split()) and "Traceback" not in r.output


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cli_train_exits_1_when_the_loss_becomes_nan(tmp_path):
    spec = write_spec(tmp_path, DIVERGING_SPEC + "\n[[training.callbacks]]\ntype = \"terminate_on_nan\"\n")
    r = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--quiet", "--out", str(tmp_path / "run")])
    assert r.exit_code == 1, r.output
    assert "terminate_on_nan" in r.stderr and "NaN or infinite" in r.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "nan"


def test_cli_evaluate_unknown_run(tmp_path):
    r = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert r.exit_code == 1 and "is not a dnnc run directory (no ir.json)" in " ".join(r.stderr.split())


def test_importing_the_runner_imports_no_framework():
    import subprocess
    import sys

    code = ("import sys, dnnc.runner, dnnc.cli.commands_run; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax', 'matplotlib', 'tensorboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
