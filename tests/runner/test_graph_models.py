"""Graph models end to end: two named inputs from an npz file, two outputs with loss weights, merge ops."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import dnnc
from dnnc.cli.app import app
from support.paths import EXAMPLES

MERGES = ["add", "subtract", "multiply", "average", "maximum", "minimum"]


@pytest.mark.parametrize("op", MERGES)
def test_merge_shape_errors_are_spec_errors(tmp_path, op):
    spec = tmp_path / "m.toml"
    spec.write_text(
        "[model]\ninputs = [ { name = \"a\", shape = [4] }, { name = \"b\", shape = [3] } ]\n"
        f"layers = [ {{ name = \"m\", type = \"{op}\", inputs = [\"a\", \"b\"] }} ]\n"
    )
    with pytest.raises(dnnc.SpecError) as info:
        dnnc.compile_spec(spec)
    text = info.value.issues[0].render()
    assert text.startswith(f"{spec}:3:") and "model.layers[0].inputs" in text
    assert f"incompatible shapes for {op}: [4], [3]" in text


def test_subtract_takes_two_inputs(tmp_path):
    spec = tmp_path / "m.toml"
    spec.write_text(
        "[model]\ninputs = [ { name = \"a\", shape = [4] }, { name = \"b\", shape = [4] }, { name = \"c\", shape = [4] } ]\n"
        "layers = [ { name = \"m\", type = \"subtract\", inputs = [\"a\", \"b\", \"c\"] } ]\n"
    )
    with pytest.raises(dnnc.SpecError, match="subtract takes exactly two inputs"):
        dnnc.compile_spec(spec)


@pytest.fixture(scope="module")
def target_variance():
    y = np.load(EXAMPLES / "data" / "housing_like.npz")["y"]
    return float(y.var())


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_wide_and_deep_trains_well_below_target_variance(tmp_path, backend, target_variance):
    from dnnc.runner.api import train_spec

    result = train_spec(EXAMPLES / "wide_and_deep.toml", backend=backend, out=tmp_path / "run", progress="quiet")
    test = result.test_metrics
    # the targets are standardised by nothing: compare with their variance (about 2.4)
    assert test["test_main_loss"] < 0.25 * target_variance, test
    assert test["test_aux_loss"] < target_variance, test
    assert test["test_loss"] == pytest.approx(0.9 * test["test_main_loss"] + 0.1 * test["test_aux_loss"], rel=1e-5)
    history = json.loads((tmp_path / "run" / "history.json").read_text())["history"]
    assert {"loss", "main_loss", "aux_loss", "main_mae", "aux_mae", "val_loss", "val_main_loss"} <= set(history)


def test_json_lines_and_predict_return_every_output(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(EXAMPLES / "wide_and_deep.toml"), "--backend", "torch", "--epochs", "2",
                                 "--json", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(lines) == 3
    assert {"loss", "main_loss", "aux_loss", "val_loss"} <= set(lines[0])
    assert {"test_loss", "test_main_loss", "test_aux_loss", "test_main_mae"} <= set(lines[-1])
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), str(EXAMPLES / "data" / "housing_like.npz"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"main", "aux"} <= set(json.dumps(out).replace('"', " ").split())


def test_graph_summary_lists_inputs_of_each_layer():
    result = CliRunner().invoke(app, ["build", str(EXAMPLES / "wide_and_deep.toml"), "--backend", "torch",
                                      "-o", "/tmp/dnnc-test-wd/model.pt"])
    assert result.exit_code == 0, result.output
    assert "Connected to" in result.output and "wide, h2" in result.output
    assert "Total params: 1,207" in result.output
