"""Frozen layers in the spec and the IR: lowering, the verifier's invariants, unfreezing; the unfreeze callback,
model.init_from and data.classes as the compiler checks them."""

from __future__ import annotations

import json

import pytest

from dnnc.compiler.compile import compile_spec, compile_text
from dnnc.compiler.errors import SpecError
from dnnc.compiler.freezing import frozen_nodes, with_trainable
from dnnc.compiler.ir import ModelIR
from dnnc.compiler.verify import IRError

SPEC = """
[model]
input_shape = [4]
layers = [
  { type = "dense", name = "a", units = 3, trainable = false },
  { type = "batch_norm", name = "bn", trainable = false },
  { type = "relu" },
  { type = "dense", name = "b", units = 2 },
]
[training]
loss = "mse"
{extra}
"""


def ir(extra: str = "") -> ModelIR:
    return compile_text(SPEC.replace("{extra}", extra))


def errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        compile_text(text)
    return [i.render() for i in info.value.issues]


def test_frozen_layers_are_explicit_in_the_ir():
    model = ir()
    assert frozen_nodes(model) == ["a", "bn"]
    assert all(not p.trainable for p in model.node("a").params + model.node("bn").params)
    assert model.node("bn").attrs.inference_mode is True and model.node("b").trainable
    assert (model.trainable_count, model.non_trainable_count) == (8, 15 + 12)
    assert ModelIR.from_json(model.to_json()) == model


def test_unfreezing_gives_the_ir_of_trainable_layers():
    model = with_trainable(ir(), {"a": True, "bn": True})
    plain = compile_text(SPEC.replace("{extra}", "").replace(", trainable = false", ""))
    assert model.nodes == plain.nodes
    assert with_trainable(model, {"bn": False}).node("bn").attrs.inference_mode is True
    with pytest.raises(KeyError, match="nosuch"):
        with_trainable(model, {"nosuch": True})


@pytest.mark.parametrize("change, field, message", [
    (lambda n: n[1]["params"][0].update(trainable=True), "node 'a' params[0].trainable",
     "kernel must be not trainable (the node is frozen)"),
    (lambda n: n[2]["attrs"].update(inference_mode=False), "node 'bn' attrs.inference_mode",
     "is False but a frozen batch_norm node has True"),
    (lambda n: n[3].update(trainable=False), "node 'relu' trainable",
     "is false, but a activation node has no parameters to freeze"),
    (lambda n: n[4].update(trainable=False), "node 'b' params[0].trainable", "kernel must be not trainable"),
])
def test_the_verifier_checks_frozen_nodes(change, field, message):
    data = json.loads(ir().to_json())
    change(data["nodes"])
    with pytest.raises(IRError) as info:
        ModelIR.from_json(json.dumps(data))
    assert f"{field}: {message}" in str(info.value)


def test_only_layers_with_weights_can_be_frozen():
    text = SPEC.replace("{extra}", "").replace('{ type = "relu" }', '{ type = "relu", trainable = false }')
    [issue] = errors(text)
    assert "model.layers[2].trainable: layer 'relu' (relu) has no weights to freeze" in issue


def test_the_unfreeze_callback_names_frozen_layers():
    model = ir('callbacks = [{ type = "unfreeze", after_epochs = 2 }]')
    assert model.training.callbacks[0] == {"type": "unfreeze", "after_epochs": 2, "layers": ["a", "bn"],
                                           "learning_rate": None}
    listed = 'callbacks = [{ type = "unfreeze", after_epochs = 1, layers = ["b", "bx"] }]'
    issues = errors(SPEC.replace("{extra}", listed))
    assert any("training.callbacks[0].layers[0]: layer 'b' is not frozen" in i for i in issues)
    assert any("training.callbacks[0].layers[1]: unknown layer 'bx'" in i for i in issues)
    plain = SPEC.replace("{extra}", 'callbacks = [{ type = "unfreeze", after_epochs = 1 }]')
    plain = plain.replace(", trainable = false", "")
    [issue] = errors(plain)
    assert "unfreeze has nothing to unfreeze" in issue


def test_checkpoint_defaults_are_explicit():
    assert ir().training.checkpoint.model_dump() == {"every_epochs": 1, "every_steps": 0, "min_seconds": 5.0}


def test_init_from_layers_must_be_layers_with_weights():
    model = compile_spec({"model": {"input_shape": [4], "init_from": {"run": "a/run", "layers": ["a", "b"]},
                                    "layers": [{"type": "dense", "name": "a", "units": 3},
                                               {"type": "dense", "name": "b", "units": 2}]}})
    assert model.init_from.model_dump() == {"source": "a/run", "layers": {"a": "a", "b": "b"}}
    text = """
[model]
input_shape = [4]
init_from = { run = "x", layers = { a = "h", relu = "r", zz = "q" } }
layers = [{ type = "dense", name = "a", units = 3 }, "relu"]
"""
    issues = errors(text)
    assert any("model.init_from.layers.relu: layer 'relu' has no weights to copy" in i for i in issues)
    assert any("model.init_from.layers.zz: layer 'zz' is not a layer of this model" in i for i in issues)


@pytest.mark.parametrize("classes, message", [
    ("[5, 5]", "a class is listed twice"),
    ('{ "5" = 0, "6" = 2 }', "without gaps"),
    ('{ "x" = 0 }', "keys are class numbers"),
])
def test_data_classes_are_checked(classes, message):
    text = f"""
[data]
dataset = "fashion_mnist"
classes = {classes}
[model]
input_shape = [28, 28]
layers = ["flatten", {{ type = "dense", units = 2 }}]
"""
    [issue] = errors(text)
    assert "data" in issue and message in issue


def test_binary_crossentropy_resolves_binary_labels():
    text = """
[data]
dataset = "fashion_mnist"
classes = [5, 6]
[model]
input_shape = [28, 28]
layers = ["flatten", { type = "dense", units = 1, activation = "sigmoid" }]
[training]
loss = "binary_crossentropy"
"""
    assert compile_text(text).data["labels"] == "binary"
