"""The IR: JSON round trip, explicit defaults, topological order, logits-out outputs."""

from __future__ import annotations

import pytest

import dnnc
from dnnc.compiler.ir import ModelIR
from support.paths import EXAMPLES, example_specs


@pytest.mark.parametrize("path", example_specs(), ids=lambda p: p.name)
def test_json_round_trip(path):
    ir = dnnc.compile_spec(path)
    again = ModelIR.from_json(ir.to_json())
    assert again == ir
    assert again.to_json() == ir.to_json()


def test_ir_is_frozen():
    ir = dnnc.compile_spec(EXAMPLES / "xor.toml")
    with pytest.raises(Exception):
        ir.name = "other"


def test_every_default_is_explicit():
    ir = dnnc.compile_spec(EXAMPLES / "mnist_bn_dropout.toml")
    bn = ir.node("batch_norm")
    assert bn.attrs.model_dump() == {"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
                                    "inference_mode": False}
    dense = ir.node("dense")
    assert dense.param("kernel").init.model_dump() == {"type": "glorot_uniform"}
    assert dense.param("bias").init.model_dump() == {"type": "zeros"}
    assert ir.training.optimizer == {
        "type": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
        "amsgrad": False, "weight_decay": 0.0, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    }
    assert ir.data["divide_by"] == 255 and ir.data["validation_split"] == 0.2 and ir.data["labels"] == "sparse"


def test_softmax_is_folded_into_the_head():
    ir = dnnc.compile_spec(EXAMPLES / "mnist_bn_dropout.toml")
    (out,) = ir.outputs
    assert out.head == "softmax" and out.loss["from_logits"] is True
    assert ir.node(out.name).attrs.activation.model_dump() == {"type": "linear"}
    assert out.metrics[0]["type"] == "sparse_categorical_accuracy" and out.metrics[0]["name"] == "accuracy"


def test_defaults_table_applies_to_layers():
    ir = dnnc.compile_spec(EXAMPLES / "init_tanh_glorot.toml")
    assert ir.node("dense").param("kernel").init.model_dump() == {"type": "glorot_normal"}
    ir = dnnc.compile_spec(EXAMPLES / "init_tanh_random_normal.toml")
    assert ir.node("dense_1").param("kernel").init.model_dump() == {"type": "random_normal", "mean": 0.0, "stddev": 1.0}


def test_graph_model_is_topological_with_two_outputs():
    ir = dnnc.compile_spec(EXAMPLES / "wide_and_deep.toml")
    seen = set(ir.inputs)
    for node in ir.nodes:
        assert all(i in seen for i in node.inputs), node.name
        seen.add(node.name)
    assert [o.name for o in ir.outputs] == ["main", "aux"]
    assert [o.loss_weight for o in ir.outputs] == [0.9, 0.1]
    assert ir.node("concat").shape == (35,)


def test_categorical_crossentropy_resolves_one_hot_labels():
    text = (EXAMPLES / "mnist_784_64_10_sigmoid.toml").read_text().replace(
        'loss = "sparse_categorical_crossentropy"', 'loss = "categorical_crossentropy"')
    ir = dnnc.compile_text(text)
    assert ir.data["labels"] == "one_hot"
    assert ir.outputs[0].metrics[0]["type"] == "categorical_accuracy"
