"""`repeat` blocks: expanded by the compiler before lowering, errors located inside the block."""

from __future__ import annotations

import pytest

import dnnc
from dnnc.compiler.compile import compile_text
from dnnc.compiler.errors import SpecError

CONTRACT = """
[model]
input_shape = [8]
layers = [
  { type = "repeat", times = 2, layers = [ { type = "dense", units = 30, activation = "relu" } ] },
  { type = "dense", units = 1 },
]
"""

PLAIN = """
[model]
input_shape = [8]
layers = [
  { type = "dense", units = 30, activation = "relu" },
  { type = "dense", units = 30, activation = "relu" },
  { type = "dense", units = 1 },
]
"""


def _errors(text: str) -> list:
    with pytest.raises(SpecError) as info:
        dnnc.compile_spec(_write(text))
    return list(info.value.issues)


def _write(text: str, name: str = "spec.toml"):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / name
    path.write_text(text)
    return path


def test_the_contract_example_is_two_dense_layers_then_the_output():
    repeated, plain = compile_text(CONTRACT), compile_text(PLAIN)
    assert [(n.name, n.op, n.inputs, n.shape) for n in repeated.nodes] == \
        [(n.name, n.op, n.inputs, n.shape) for n in plain.nodes]
    assert [n.name for n in repeated.nodes] == ["input", "dense", "dense_1", "dense_2"]
    assert repeated.trainable_count == 8 * 30 + 30 + 30 * 30 + 30 + 31
    # every copy points back at the layer that declares it
    assert [n.spec_path for n in repeated.nodes[1:]] == [
        ("model", "layers", 0, "layers", 0), ("model", "layers", 0, "layers", 0), ("model", "layers", 1)]


def test_times_zero_yields_no_layer():
    ir = compile_text(CONTRACT.replace("times = 2", "times = 0"))
    assert [(n.name, n.inputs, n.shape) for n in ir.nodes] == [("input", (), (8,)), ("dense", ("input",), (1,))]


def test_a_model_of_only_empty_blocks_is_an_error_at_the_layers():
    [issue] = _errors(CONTRACT.replace("times = 2", "times = 0").replace('  { type = "dense", units = 1 },\n', ""))
    assert issue.path == ("model", "layers")
    assert "no layers" in issue.message and "times = 0" in issue.message


def test_names_and_inputs_inside_a_block_follow_each_copy():
    ir = compile_text("""
[model]
input_shape = [4]
layers = [
  { type = "repeat", times = 3, layers = [
      { name = "h", type = "dense", units = 4, activation = "relu" },
      { name = "g", type = "dense", units = 4 },
      { name = "sum", type = "add", inputs = ["h", "g"] },
  ] },
  { type = "dense", units = 1, inputs = ["sum_1"], name = "out" },
  { type = "concatenate", inputs = ["sum_2", "out"] },
]
""")
    nodes = {n.name: n.inputs for n in ir.nodes}
    assert nodes["h"] == ("input",) and nodes["h_1"] == ("sum",) and nodes["h_2"] == ("sum_1",)
    assert nodes["sum"] == ("h", "g") and nodes["sum_1"] == ("h_1", "g_1") and nodes["sum_2"] == ("h_2", "g_2")
    assert nodes["g_1"] == ("h_1",) and nodes["g_2"] == ("h_2",)
    assert nodes["out"] == ("sum_1",) and nodes["concatenate"] == ("sum_2", "out")


def test_nested_blocks_expand_innermost_first():
    ir = compile_text("""
[model]
input_shape = [3]
layers = [
  { type = "repeat", times = 2, layers = [
      { type = "repeat", times = 2, layers = [ { type = "dense", units = 5 } ] },
      "relu",
  ] },
  { type = "dense", units = 1 },
]
""")
    assert [n.op for n in ir.nodes] == ["input", "dense", "dense", "activation", "dense", "dense", "activation", "dense"]
    assert ir.nodes[2].spec_path == ("model", "layers", 0, "layers", 0, "layers", 0)


def test_schema_errors_inside_a_block_are_located_with_the_nested_path():
    text = """[model]
input_shape = [8]
layers = [
  { type = "repeat", times = -1, layers = [
      { type = "dense", units = 0 },
  ] },
  { type = "dense", units = 1 },
]
"""
    issues = _errors(text)
    lines = text.splitlines()
    rendered = sorted(i.render().split(" ", 1)[1] for i in issues)
    assert rendered == ["model.layers[0].layers[0].units: must be > 0 (received 0)",
                        "model.layers[0].times: must be ≥ 0 (received -1)"]
    where = {i.path: (i.line, i.column) for i in issues}
    assert where[("model", "layers", 0, "layers", 0, "units")] == (5, lines[4].index("units") + 1)
    assert where[("model", "layers", 0, "times")] == (4, lines[3].index("times") + 1)


def test_lowering_errors_in_a_copy_are_located_once_at_the_declaring_layer():
    text = """[model]
input_shape = [8]
layers = [
  { type = "repeat", times = 3, layers = [ { type = "dense", units = 4, inputs = ["nope"] } ] },
  { type = "dense", units = 1 },
]
"""
    issues = _errors(text)
    assert len(issues) == 1  # three copies, one problem
    issue = issues[0]
    assert issue.path == ("model", "layers", 0, "layers", 0, "inputs", 0)
    assert (issue.line, issue.column) == (4, text.splitlines()[3].index('"nope"') + 1)
    assert issue.message == "unknown input 'nope'"


def test_a_named_copy_colliding_with_another_layer_names_both_places():
    issues = _errors("""[model]
input_shape = [2]
layers = [
  { type = "repeat", times = 2, layers = [ { name = "h", type = "dense", units = 2 } ] },
  { name = "h_1", type = "dense", units = 1 },
]
""")
    assert [i.render().split(" ", 1)[1] for i in issues] == [
        "model.layers[1].name: duplicate layer name 'h_1' (also used by model.layers[0].layers[0]) (received 'h_1')"]


def test_repeat_is_a_reserved_layer_type_name():
    import types

    from dnnc.plugins import LayerType, hookimpl
    from dnnc.plugins.manager import build_registry
    from dnnc.spec_schema.layers import LayerBase

    from typing import Literal

    class Repeat(LayerBase):
        type: Literal["repeat"]

    module = types.ModuleType("repeat_plugin")
    module.dnnc_layer_types = hookimpl(lambda: [LayerType(Repeat, lambda layer, shapes, defaults: None)])

    class EntryPoint:
        name, value, group = "repeat_plugin", "repeat_plugin", "dnnc"
        dist = types.SimpleNamespace(name="repeat-plugin", metadata={"Name": "repeat-plugin"})

        def load(self):
            return module

    registry = build_registry([EntryPoint()])
    assert "repeat" not in registry.layers
    assert any("'repeat', a name reserved by dnnc's spec format" in f.render() for f in registry.failures)
    assert compile_text(CONTRACT, registry=registry).nodes[-1].name == "dense_2"
