"""validate / schema / backends / --version through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jsonschema
import pytest
import tomllib
from typer.testing import CliRunner

from dnnc import __version__
from dnnc.cli.app import app
from support.paths import EXAMPLES, example_specs

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_everywhere():
    for cmd in ([], ["validate"], ["schema"], ["backends"]):
        result = runner.invoke(app, cmd + ["--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_validate_prints_summary_with_totals():
    result = runner.invoke(app, ["validate", str(EXAMPLES / "fashion_mlp_sgd.toml")])
    assert result.exit_code == 0, result.output
    assert "Total params: 266,610" in result.output
    assert "Trainable params: 266,610" in result.output
    assert "flatten (flatten)" in result.output and "(None, 784)" in result.output


def test_validate_graph_summary_shows_inputs():
    result = runner.invoke(app, ["validate", str(EXAMPLES / "wide_and_deep.toml")])
    assert result.exit_code == 0, result.output
    assert "Connected to" in result.output and "wide, h2" in result.output


def test_validate_json_and_ir_output(tmp_path):
    result = runner.invoke(app, ["validate", "--json", str(EXAMPLES / "mnist_784_64_64_10_relu.toml")])
    assert json.loads(result.output)["total_params"] == 55_050
    out = tmp_path / "ir.json"
    result = runner.invoke(app, ["validate", str(EXAMPLES / "xor.toml"), "--ir", str(out)])
    assert result.exit_code == 0 and json.loads(out.read_text())["name"] == "xor"


def test_validate_missing_file_exits_2():
    result = runner.invoke(app, ["validate", "does/not/exist.toml"])
    assert result.exit_code == 2 and "Traceback" not in result.output


VALIDATE_PROBE = """
import sys, time
t = time.perf_counter()
from dnnc.cli.app import app
try:
    app(["validate", sys.argv[1]])
except SystemExit as e:
    assert e.code in (0, None), e.code
heavy = sorted(m for m in ("tensorflow", "torch", "keras", "jax") if m in sys.modules)
print(repr((heavy, time.perf_counter() - t)))
"""


def test_validate_imports_no_framework():
    cmd = [sys.executable, "-c", VALIDATE_PROBE, str(EXAMPLES / "mnist_bn_dropout.toml")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    heavy, _ = eval(out.strip().splitlines()[-1])
    assert heavy == []


@pytest.fixture(scope="module")
def schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.output)


def test_schema_is_valid_json_schema(schema):
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", example_specs(), ids=lambda p: p.name)
def test_schema_accepts_examples(schema, path):
    jsonschema.Draft202012Validator(schema).validate(tomllib.loads(path.read_text()))


@pytest.mark.parametrize("patch,desc", [
    (lambda s: s["model"]["layers"][0].update(unitz=3), "misspelt key"),
    (lambda s: s["model"]["layers"][0].update(type="dens"), "unknown layer type"),
    (lambda s: s["model"]["layers"][1].update(units=0), "out-of-range units"),
    (lambda s: s["training"].update(optimizer="adamm"), "unknown optimizer"),
    (lambda s: s["training"].update(epochs=0), "epochs < 1"),
    (lambda s: s["data"].update(validation_split=1.5), "validation split"),
    (lambda s: s.update(extra=1), "unknown top-level key"),
])
def test_schema_rejects(schema, patch, desc):
    spec = tomllib.loads((EXAMPLES / "fashion_mlp_sgd.toml").read_text())
    patch(spec)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(spec)


def test_backends_lists_builtin_backends():
    result = runner.invoke(app, ["backends", "--json"])
    assert result.exit_code == 0, result.output
    names = {b["name"] for b in json.loads(result.output)["backends"]}
    assert {"keras", "torch"} <= names


def test_spec_reference_page_is_current():
    """docs/spec-reference.md is generated from the schema; regenerate with `dnnc schema --markdown -o docs/spec-reference.md`."""
    from support.paths import ROOT

    result = runner.invoke(app, ["schema", "--markdown"])
    assert result.exit_code == 0
    assert (ROOT / "docs" / "spec-reference.md").read_text() == result.output
