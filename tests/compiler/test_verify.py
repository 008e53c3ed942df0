"""The IR verifier: a tampered ir.json is refused naming the node and the field; run directories too."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import dnnc
from dnnc.cli.app import app
from dnnc.compiler.ir import ModelIR
from dnnc.compiler.ops import BUILTIN_OPS, LoweringError, OpAttrs, OpDef, ops_markdown
from dnnc.compiler.verify import IRError, verify
from support.fakes import FakeBackend, xor_spec
from support.paths import EXAMPLES, ROOT, example_specs

runner = CliRunner()


def _ir_data(example: str = "mnist_bn_dropout.toml") -> dict:
    return json.loads(dnnc.compile_spec(EXAMPLES / example).to_json())


def _node(data: dict, name: str) -> dict:
    return next(n for n in data["nodes"] if n["name"] == name)


def _refused(data: dict) -> IRError:
    with pytest.raises(IRError) as info:
        ModelIR.from_json(json.dumps(data), source="run/ir.json")
    return info.value


@pytest.mark.parametrize("path", example_specs(), ids=lambda p: p.stem)
def test_every_example_verifies_and_round_trips(path):
    ir = dnnc.compile_spec(path)
    verify(ir)
    assert ModelIR.from_json(ir.to_json()) == ir


def test_a_changed_shape_names_the_node_and_what_the_op_gives():
    data = _ir_data()
    _node(data, "dense_1")["shape"] = [129]
    err = _refused(data)
    text = str(err)
    assert text.startswith("run/ir.json: invalid IR: ")
    assert "node 'dense_1' shape: is [129] but dense of input shape [256] gives [128]" in text


def test_an_unknown_op_is_named_with_the_known_ones():
    data = _ir_data()
    _node(data, "dense_1")["op"] = "dense2d"
    (issue,) = _refused(data).issues
    assert (issue.node, issue.field) == ("dense_1", "op")
    assert "unknown op 'dense2d'" in issue.message and "batch_norm" in issue.message


def test_a_missing_attribute_and_an_extra_one_are_named():
    data = _ir_data()
    del _node(data, "dense_1")["attrs"]["units"]
    _node(data, "batch_norm")["attrs"]["renorm"] = True
    issues = {(i.node, i.field): i.message for i in _refused(data).issues}
    assert issues[("dense_1", "attrs")] == "units: missing"
    assert "renorm: extra inputs are not permitted" in issues[("batch_norm", "attrs")]


def test_an_attribute_outside_its_bounds_and_a_missing_activation_parameter():
    data = _ir_data("init_relu_glorot.toml")
    first = data["nodes"][1]
    first["attrs"]["units"] = 0
    data["nodes"][2]["attrs"]["activation"] = {"type": "leaky_relu"}
    issues = {i.node: i.message for i in _refused(data).issues}
    assert "units: input should be greater than 0" in issues[first["name"]]
    assert "negative_slope: missing" in issues[data["nodes"][2]["name"]]


def test_a_default_is_never_filled_in_when_reading_an_ir():
    data = _ir_data()
    del _node(data, "batch_norm")["attrs"]["momentum"]
    (issue,) = _refused(data).issues
    assert (issue.node, issue.message) == ("batch_norm", "momentum: missing")


def test_parameters_must_be_the_ops_own():
    data = _ir_data()
    _node(data, "dense_1")["params"][0]["shape"] = [256, 64]
    _node(data, "batch_norm")["params"][2]["trainable"] = True
    del _node(data, "dense")["params"][1]
    issues = {(i.node, i.field): i.message for i in _refused(data).issues}
    assert issues[("dense_1", "params[0].shape")] == "kernel is [256, 64] but dense gives [256, 128]"
    assert issues[("batch_norm", "params[2].trainable")] == "moving_mean must be not trainable"
    assert issues[("dense", "params")] == "are ['kernel'] but dense with these attributes has ['kernel', 'bias']"


def test_an_unknown_initializer_is_refused_not_replaced_by_zeros():
    data = _ir_data()
    _node(data, "dense")["params"][0]["init"] = {"type": "orthogonal"}
    (issue,) = _refused(data).issues
    assert issue.node == "dense" and issue.field.startswith("params.0.init")


def test_order_inputs_and_outputs():
    data = _ir_data("wide_and_deep.toml")
    nodes = data["nodes"]
    h1 = next(i for i, n in enumerate(nodes) if n["name"] == "h1")
    nodes.append(nodes.pop(h1))  # h1 after its consumers
    data["outputs"][1]["shape"] = [2]
    messages = [i.render() for i in _refused(data).issues]
    assert "node 'h2' inputs: input 'h1' comes later: nodes must be in topological order" in messages
    assert "outputs[1].shape: is [2] but node 'aux' has shape [1]" in messages


def test_a_head_that_does_not_fit_the_loss():
    data = _ir_data()
    data["outputs"][0]["head"] = "sigmoid"
    (issue,) = _refused(data).issues
    assert issue.render() == ("outputs[0].head: is 'sigmoid' but sparse_categorical_crossentropy is computed from "
                              "logits with the softmax head")


def test_not_json_and_wrong_version():
    with pytest.raises(IRError, match=r"x\.json: invalid IR: json: not valid JSON"):
        ModelIR.from_json("{", source="x.json")
    data = _ir_data()
    data["ir_version"] = 99
    assert "unsupported IR version 99" in str(_refused(data))


def test_plugin_ops_are_verified_with_their_definition():
    class ScaleAttrs(OpAttrs):
        factor: float

    def shape(attrs, shapes):
        if attrs.factor == 0:
            raise LoweringError("factor 0 erases the input", key="factor")
        return shapes[0]

    table = {**BUILTIN_OPS, "scale": OpDef("scale", ScaleAttrs, "y = factor·x", shape)}
    data = _ir_data("xor.toml")
    first = data["nodes"][1]
    data["nodes"].insert(1, {"name": "s", "op": "scale", "inputs": ["input"], "attrs": {"factor": 2.0},
                             "shape": [2], "params": []})
    first["inputs"] = ["s"]
    ir = ModelIR.from_json(json.dumps(data), ops=table)
    assert ir.node("s").attrs.factor == 2.0
    data["nodes"][1]["attrs"]["factor"] = 0.0
    (issue,) = _refused_with(data, table).issues
    assert issue.render() == "node 's' attrs.factor: factor 0 erases the input"
    with pytest.raises(IRError, match="unknown op 'scale'"):  # not installed: the default table lacks it
        ModelIR.from_json(json.dumps(data))


def _refused_with(data, table) -> IRError:
    with pytest.raises(IRError) as info:
        ModelIR.from_json(json.dumps(data), ops=table)
    return info.value


@pytest.fixture()
def fake_run(tmp_path, monkeypatch):
    from dnnc.plugins.manager import get_registry

    monkeypatch.setitem(get_registry().backends, "fake", FakeBackend())
    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec(repeat=2, epochs=1))
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", str(spec), "--backend", "fake", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_cli_refuses_a_run_directory_with_a_tampered_ir(fake_run, tmp_path, command):
    data = json.loads((fake_run / "ir.json").read_text())
    data["nodes"][1]["shape"] = [5]
    (fake_run / "ir.json").write_text(json.dumps(data))
    args = [command, str(fake_run)]
    if command == "predict":
        import numpy as np

        np.savez(tmp_path / "x.npz", x=np.zeros((2, 2), dtype=np.float32))
        args.append(str(tmp_path / "x.npz"))
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    node = data["nodes"][1]["name"]
    assert f"{fake_run / 'ir.json'}: invalid IR: node {node!r} shape: is [5]" in " ".join(result.output.split())


def test_ir_ops_reference_page_is_current():
    page = ROOT / "docs" / "ir-ops.md"
    assert page.read_text() == ops_markdown(), "regenerate with: dnnc schema --ops -o docs/ir-ops.md"
