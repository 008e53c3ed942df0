"""[model.init_from]: layers copied from a run directory, a weights file or a saved model (dnnc.runner.transfer)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from dnnc.compiler.compile import compile_spec
from dnnc.compiler.errors import SpecError
from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner import train_spec
from dnnc.runner.errors import RunnerError
from dnnc.runner.transfer import transfer_weights
from support.fakes import FakeBackend

runner = CliRunner()

SOURCE = """
name = "source"
[data]
dataset = {{ type = "xor", repeat = 4 }}
[model]
input_shape = [2]
layers = [
  {{ type = "dense", name = "h1", units = 6, activation = "tanh" }},
  {{ type = "dense", name = "h2", units = 4, activation = "tanh" }},
  {{ type = "dense", name = "out", units = 2, activation = "softmax" }},
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = {{ type = "sgd", learning_rate = 0.5 }}
epochs = 2
seed = {seed}
"""

TARGET = """
name = "target"
[data]
dataset = {{ type = "xor", repeat = 4 }}
[model]
input_shape = [2]
{init_from}
layers = [
  {{ type = "dense", name = "h1", units = 6, activation = "tanh", trainable = false }},
  {{ type = "dense", name = "{second}", units = 4, activation = "tanh" }},
  {{ type = "dense", name = "out", units = 1, activation = "sigmoid" }},
]
[training]
loss = "binary_crossentropy"
optimizer = {{ type = "sgd", learning_rate = 0.5 }}
epochs = 1
seed = 3
"""


@pytest.fixture(autouse=True)
def fake(monkeypatch):
    from dnnc.plugins.manager import get_registry

    monkeypatch.setitem(get_registry().backends, "fake", FakeBackend())


@pytest.fixture
def source_run(tmp_path) -> Path:
    spec = tmp_path / "source.toml"
    spec.write_text(SOURCE.format(seed=1))
    return train_spec(spec, backend="fake", out=tmp_path / "source-run", progress="quiet").run_dir


def target(tmp_path, init_from: str, second: str = "h2") -> Path:
    path = tmp_path / "target.toml"
    path.write_text(TARGET.format(init_from=init_from, second=second))
    return path


def test_matching_layers_are_copied_from_a_run_directory(tmp_path, source_run):
    spec = target(tmp_path, 'init_from = { run = "source-run" }')
    train_spec(spec, backend="fake", epochs=1, out=tmp_path / "t", progress="quiet")
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["init_from"]["copied"] == {"h1": "h1", "h2": "h2"}
    assert set(manifest["init_from"]["fresh"]) == {"out"}
    assert "kernel (4, 1), bias (1,) here but kernel (4, 2), bias (2,)" in manifest["init_from"]["fresh"]["out"]
    assert manifest["init_from"]["source"] == str(source_run)
    ir = compile_spec(spec)
    weights, report = transfer_weights(ir, initial_weights(ir), tmp_path)
    with np.load(source_run / "weights.npz") as source:
        for key in ("h1/kernel", "h1/bias", "h2/kernel", "h2/bias"):
            np.testing.assert_array_equal(weights[key], source[key])
    np.testing.assert_array_equal(weights["out/kernel"], initial_weights(ir)["out/kernel"])
    log = (tmp_path / "t" / "train.log").read_text()
    assert "initial weights from" in log and "copied h1" in log and "fresh  out" in log


def test_an_explicit_mapping_copies_renamed_layers(tmp_path, source_run):
    spec = target(tmp_path, 'init_from = { run = "source-run/weights.npz", layers = { second = "h2" } }', "second")
    ir = compile_spec(spec)
    weights, report = transfer_weights(ir, initial_weights(ir), tmp_path)
    assert report.copied == [("second", "h2")]
    assert [t for t, _ in report.fresh] == ["h1", "out"] and "not listed" in report.fresh[0][1]
    with np.load(source_run / "weights.npz") as source:
        np.testing.assert_array_equal(weights["second/kernel"], source["h2/kernel"])
    assert "  copied second ← h2" in report.lines()


def test_a_listed_layer_of_other_shapes_is_a_located_spec_error(tmp_path, source_run):
    spec = target(tmp_path, 'init_from = { run = "source-run", layers = ["h1", "out"] }')
    with pytest.raises(SpecError) as info:
        train_spec(spec, backend="fake", out=tmp_path / "t", progress="quiet")
    [issue] = info.value.issues
    text = issue.render()
    assert text.startswith(f"{spec}:7:") and "model.init_from.layers" in text
    assert "kernel (4, 1), bias (1,) here but kernel (4, 2), bias (2,) in 'out'" in text
    result = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--out", str(tmp_path / "t2")])
    assert result.exit_code == 2 and "cannot copy 'out' into layer 'out'" in result.output
    missing = target(tmp_path, 'init_from = { run = "source-run", layers = { h2 = "nosuch" } }')
    with pytest.raises(SpecError, match=r"has no layer 'nosuch' .*\(received 'nosuch'; allowed h1, h2, out\)"):
        train_spec(missing, backend="fake", out=tmp_path / "t3", progress="quiet")


def test_sources_of_every_kind(tmp_path, source_run):
    ir = compile_spec(target(tmp_path, 'init_from = { run = "x" }'))
    with np.load(source_run / "weights.npz") as data:
        want = data["h1/kernel"]
    np.savez(tmp_path / "plain.npz", **{"h1/kernel": want, "h1/bias": np.zeros(6, np.float32)})
    kinds = ["source-run", "source-run/weights.npz", "source-run/checkpoint.npz", "plain.npz"]
    for kind in kinds:
        local = ir.model_copy(update={"init_from": ir.init_from.model_copy(update={"source": kind})})
        weights, report = transfer_weights(local, initial_weights(ir), tmp_path)
        assert ("h1", "h1") in report.copied, kind
        np.testing.assert_array_equal(weights["h1/kernel"], want)


def test_unreadable_or_useless_sources_fail_naming_the_file(tmp_path, source_run):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    other = tmp_path / "other.npz"
    np.savez(other, **{"zz/kernel": np.zeros((2, 2), np.float32)})
    for source, message in [("nope", "nope: no such file or directory"), ("junk.npz", "junk.npz: not a readable"),
                            ("other.npz", "other.npz: no layer to copy"), ("target.toml", "target.toml: neither")]:
        spec = target(tmp_path, f'init_from = {{ run = "{source}" }}')
        with pytest.raises(RunnerError, match=message):
            train_spec(spec, backend="fake", out=tmp_path / "t", progress="quiet")
    result = runner.invoke(app, ["build", str(target(tmp_path, 'init_from = { run = "nope" }')), "--backend", "fake",
                                 "-o", str(tmp_path / "m.fake")])
    assert result.exit_code == 1 and "no such file or directory" in result.output


def test_build_prints_what_was_copied_and_counts_frozen_weights_as_non_trainable(tmp_path, source_run):
    spec = target(tmp_path, 'init_from = { run = "source-run" }')
    result = runner.invoke(app, ["build", str(spec), "--backend", "fake", "-o", str(tmp_path / "m.fake"), "-q"])
    assert result.exit_code == 0, result.output
    assert "copied h1" in result.output and "copied h2" in result.output and "fresh  out" in result.output
    assert "Trainable params: 33" in result.output and "Non-trainable params: 18" in result.output


def test_a_saved_torch_model_is_a_source(tmp_path):
    from dnnc.plugins.manager import get_registry

    if not get_registry().backends["torch"].status()[0]:
        pytest.skip("the torch backend is not available")
    spec = tmp_path / "source.toml"
    spec.write_text(SOURCE.format(seed=2))
    run = train_spec(spec, backend="torch", out=tmp_path / "torch-run", progress="quiet")
    ir = compile_spec(target(tmp_path, 'init_from = { run = "torch-run/model.pt" }'))
    weights, report = transfer_weights(ir, initial_weights(ir), tmp_path)
    assert report.copied == [("h1", "h1"), ("h2", "h2")]
    np.testing.assert_array_equal(weights["h2/kernel"], run.model.get_weights()["h2/kernel"])
