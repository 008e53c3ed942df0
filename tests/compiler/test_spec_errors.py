"""Broken specs: every error names file:line:col, the path, what was received and what is allowed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import dnnc
from dnnc.cli.app import app

HEAD = """spec_version = 1
[model]
input_shape = [784]
"""

IMAGE = HEAD.replace("[784]", "[6, 6, 3]")

# (name, spec text, [(line, path, fragment of the message), ...])
CASES = [
    ("unknown layer type", HEAD + 'layers = [ { type = "dens", units = 3 } ]\n',
     [(4, "model.layers[0]", "unknown layer type 'dens' (allowed 'activation'")]),
    ("did you mean layer", HEAD + 'layers = [ { type = "dens", units = 3 } ]\n',
     [(4, "model.layers[0]", "did you mean 'dense'?")]),
    ("units must be positive", HEAD + "[[model.layers]]\ntype = \"dense\"\nunits = -3\n",
     [(6, "model.layers[0].units", "must be > 0 (received -3)")]),
    ("unknown key", HEAD + 'layers = [ { type = "dense", units = 3, activaton = "relu" } ]\n',
     [(4, "model.layers[0].activaton", "unknown key 'activaton'"),
      (4, "model.layers[0].activaton", "did you mean 'activation'?")]),
    ("wrong type", HEAD + 'layers = [ { type = "dense", units = "many" } ]\n',
     [(4, "model.layers[0].units", "expected an integer (received 'many')")]),
    ("dropout rate", HEAD + 'layers = [ { type = "dropout", rate = 1.0 } ]\n',
     [(4, "model.layers[0].rate", "must be < 1.0 (received 1.0)")]),
    ("unknown activation", HEAD + 'layers = [ { type = "dense", units = 3, activation = "rleu" } ]\n',
     [(4, "model.layers[0].activation", "unknown activation 'rleu'")]),
    ("unknown initializer", HEAD + 'layers = [ { type = "dense", units = 3, kernel_init = "he_normall" } ]\n',
     [(4, "model.layers[0].kernel_init", "did you mean 'he_normal'?")]),
    ("missing required key", HEAD + 'layers = [ { type = "dense" } ]\n',
     [(4, "model.layers[0].units", "missing required key 'units'")]),
    ("batch norm momentum", HEAD + 'layers = [ { type = "batch_norm", momentum = 1.5 } ]\n',
     [(4, "model.layers[0].momentum", "must be < 1")]),
    ("conv kernel entries", IMAGE + 'layers = [ { type = "conv2d", filters = 4, kernel_size = [3] } ]\n',
     [(4, "model.layers[0].kernel_size", "needs one entry per spatial axis (2) or a single integer (received [3]")]),
    ("conv groups", IMAGE + 'layers = [ { type = "conv2d", filters = 4, kernel_size = 3, groups = 2 } ]\n',
     [(4, "model.layers[0].groups", "groups must divide the input channels (3) and the filters (4) (received 2")]),
    ("conv window too large", IMAGE + 'layers = [ { type = "conv2d", filters = 4, kernel_size = 7 } ]\n',
     [(4, "model.layers[0].kernel_size", "the window [7, 7] does not fit the input [6, 6] with padding 'valid'")]),
    ("conv1d on images", IMAGE + 'layers = [ { type = "conv1d", filters = 4, kernel_size = 3 } ]\n',
     [(4, "model.layers[0]", "conv1d needs inputs of rank 2 (length, channels)")]),
    ("conv strides and dilation", IMAGE + 'layers = [ { type = "conv2d", filters = 3, kernel_size = 2, strides = 2, '
     'dilation_rate = 2 } ]\n', [(4, "model.layers[0].strides", "cannot be combined with dilation_rate > 1")]),
    ("pool padding", IMAGE + 'layers = [ { type = "max_pool2d", padding = "full" } ]\n',
     [(4, "model.layers[0].padding", "not an allowed value (received 'full'; allowed 'same', 'valid')")]),
    ("negative learning rate", HEAD + 'layers = ["flatten"]\n[training]\nloss = "mse"\noptimizer = { type = "sgd", learning_rate = -0.1 }\n',
     [(7, "training.optimizer.learning_rate", "must be ≥ 0")]),
    ("momentum out of range", HEAD + 'layers = ["flatten"]\n[training]\nloss = "mse"\noptimizer = { type = "sgd", momentum = 1.0 }\n',
     [(7, "training.optimizer.momentum", "must be < 1")]),
    ("epochs", HEAD + 'layers = ["flatten"]\n[training]\nloss = "mse"\nepochs = 0\n',
     [(7, "training.epochs", "must be ≥ 1 (received 0)")]),
    ("unknown optimizer", HEAD + 'layers = ["flatten"]\n[training]\nloss = "mse"\noptimizer = "adamm"\n',
     [(7, "training.optimizer", "did you mean 'adam'?")]),
    ("unknown loss", HEAD + 'layers = ["flatten"]\n[training]\nloss = "mean_squared"\n',
     [(6, "training.loss", "unknown loss 'mean_squared'")]),
    ("unknown callback", HEAD + 'layers = ["flatten"]\n[training]\nloss = "mse"\n[[training.callbacks]]\ntype = "early_stoping"\n',
     [(7, "training.callbacks[0]", "did you mean 'early_stopping'?")]),
    ("unknown dataset", 'spec_version = 1\n[data]\ndataset = "mnst"\n[model]\ninput_shape = [784]\nlayers = ["flatten"]\n',
     [(3, "data.dataset", "did you mean 'mnist'?")]),
    ("validation split", 'spec_version = 1\n[data]\ndataset = "mnist"\nvalidation_split = 1.2\n[model]\ninput_shape = [784]\nlayers = ["flatten"]\n',
     [(4, "data.validation_split", "must be < 1")]),
    ("unsupported spec_version", 'spec_version = 7\n[model]\ninput_shape = [3]\nlayers = ["flatten"]\n',
     [(1, "spec_version", "unsupported spec_version 7")]),
    ("unknown top-level key", 'spec_version = 1\nmodle = 3\n[model]\ninput_shape = [3]\nlayers = ["flatten"]\n',
     [(2, "modle", "did you mean 'model'?")]),
    ("toml syntax", HEAD + "layers = [\n", [(4, "", "Invalid value")]),
    ("unknown input", """spec_version = 1
[model]
inputs = [ { name = "wide", shape = [5] }, { name = "deep", shape = [6] } ]
layers = [
  { name = "h1", type = "dense", units = 30, inputs = ["deep"] },
  { name = "c", type = "concatenate", inputs = ["wide", "h11"] },
]
""", [(6, "model.layers[1].inputs[1]", "unknown input 'h11'"), (6, "model.layers[1].inputs[1]", "did you mean 'h1'?")]),
    ("duplicate name", HEAD + 'layers = [ { name = "a", type = "dense", units = 3 }, { name = "a", type = "dense", units = 3 } ]\n',
     [(4, "model.layers[1].name", "duplicate layer name 'a'")]),
    ("cycle", """spec_version = 1
[model]
input_shape = [4]
layers = [
  { name = "a", type = "dense", units = 4, inputs = ["b"] },
  { name = "b", type = "dense", units = 4, inputs = ["a"] },
]
""", [(5, "model.layers[0].inputs", "cycle")]),
    ("incompatible concatenation", """spec_version = 1
[model]
inputs = [ { name = "x", shape = [5, 2] }, { name = "y", shape = [6] } ]
layers = [ { name = "c", type = "concatenate", inputs = ["x", "y"] } ]
""", [(4, "model.layers[0].inputs", "same rank")]),
    ("incompatible add", """spec_version = 1
[model]
inputs = [ { name = "x", shape = [5] }, { name = "y", shape = [6] } ]
layers = [ { name = "s", type = "add", inputs = ["x", "y"] } ]
""", [(4, "model.layers[0].inputs", "incompatible shapes for add: [5], [6]")]),
    ("bad reshape", HEAD + 'layers = [ { type = "reshape", shape = [27, 28] } ]\n',
     [(4, "model.layers[0].shape", "cannot reshape 784 values")]),
    ("loss needs softmax", HEAD + 'layers = [ { type = "dense", units = 10 } ]\n[training]\nloss = "sparse_categorical_crossentropy"\n',
     [(4, "model.layers[0]", "needs output 'dense' to end in softmax")]),
]


def _write(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_error_is_located(tmp_path, name, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(dnnc.SpecError) as info:
        dnnc.compile_spec(path)
    rendered = [i.render() for i in info.value.issues]
    for line, spath, fragment in expected:
        prefix = f"{path}:{line}:"
        hits = [r for r in rendered if r.startswith(prefix) and (not spath or f" {spath}: " in r) and fragment in r]
        assert hits, f"no error at line {line} {spath!r} containing {fragment!r}; got:\n" + "\n".join(rendered)


def test_all_errors_of_a_file_at_once(tmp_path):
    text = HEAD + 'layers = [ { type = "dense", units = -1 }, { type = "dropout", rate = 2 }, { type = "dens" } ]\n'
    with pytest.raises(dnnc.SpecError) as info:
        dnnc.compile_spec(_write(tmp_path, text))
    assert len(info.value.issues) == 3


def test_structured_issues(tmp_path):
    with pytest.raises(dnnc.SpecError) as info:
        dnnc.compile_spec(_write(tmp_path, HEAD + "[[model.layers]]\ntype = \"dense\"\nunits = 0\n"))
    issue = info.value.issues[0]
    assert (issue.line, issue.column) == (6, 1)
    assert issue.path == ("model", "layers", 0, "units")
    assert issue.received == 0
    assert issue.to_dict()["path"] == "model.layers[0].units"


def test_json_errors_are_located(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{\n  "model": {\n    "input_shape": [3],\n    "layers": [\n      {"type": "dense", "units": -2}\n    ]\n  }\n}\n')
    with pytest.raises(dnnc.SpecError) as info:
        dnnc.compile_spec(path)
    assert info.value.issues[0].render().startswith(f"{path}:5:25 model.layers[0].units: must be > 0")


@pytest.mark.parametrize("name,text,expected", CASES[:6] + CASES[-4:], ids=[c[0] for c in CASES[:6] + CASES[-4:]])
def test_cli_exits_2_without_traceback(tmp_path, name, text, expected):
    path = _write(tmp_path, text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{path}:{expected[0][0]}:" in result.output
