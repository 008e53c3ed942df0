"""Every bundled example validates, with the parameter totals Keras prints for those models."""

from __future__ import annotations

import pytest

import dnnc
from support.paths import EXAMPLES, example_specs

# Totals Keras's model.summary() prints for the lecture networks.
KERAS_TOTALS = {
    "mnist_784_64_10_sigmoid.toml": (50_890, 0),
    "mnist_784_64_64_10_relu.toml": (55_050, 0),
    "fashion_mlp_sgd.toml": (266_610, 0),
    "mnist_bn_dropout.toml": (243_658, 896),  # BN moving mean/variance are non-trainable, as in Keras
    "wide_and_deep.toml": (1_207, 0),
    "xor.toml": (17, 0),
    "mnist_lstm.toml": (81_674, 0),  # LSTM 80,384 + dense 1,290
    "mnist_gru.toml": (61_962, 0),  # GRU 60,672 (two bias rows) + dense 1,290
    "imdb_bidirectional_lstm.toml": (706_177, 0),  # embedding 640,000 + 2 LSTMs of 33,024 + dense 129
    "mnist_cnn.toml": (34_826, 0),  # the Keras "simple MNIST convnet" example prints 34,826
    "fashion_cnn.toml": (225_034, 0),
}


@pytest.mark.parametrize("path", example_specs(), ids=lambda p: p.name)
def test_example_validates(path):
    ir = dnnc.compile_spec(path)
    assert ir.nodes and ir.outputs
    assert ir.training is not None and ir.data is not None
    if path.name in KERAS_TOTALS:
        assert (ir.trainable_count, ir.non_trainable_count) == KERAS_TOTALS[path.name]


def test_examples_cover_the_lecture_networks():
    names = {p.name for p in example_specs()}
    for required in KERAS_TOTALS:
        assert required in names
    assert {"init_tanh_random_normal.toml", "init_tanh_glorot.toml", "init_relu_random_normal.toml",
            "init_relu_glorot.toml", "fashion_128_adam.toml", "mnist_64_bn_dropout.toml"} <= names


def test_toml_and_json_give_the_same_ir(tmp_path):
    import json
    import tomllib

    src = EXAMPLES / "fashion_mlp_sgd.toml"
    data = tomllib.loads(src.read_text())
    (tmp_path / "fashion_mlp_sgd.json").write_text(json.dumps(data, indent=2))
    a = dnnc.compile_spec(src)
    b = dnnc.compile_spec(tmp_path / "fashion_mlp_sgd.json")
    assert a == b


TRANSFER_TOTALS = {  # (trainable, non-trainable): task B's copied hidden layers are frozen at first
    "fashion_a_eight_classes.toml": (266_408, 0),
    "fashion_b_sandal_or_shirt.toml": (101, 265_600),
    "fashion_b_fresh.toml": (265_701, 0),
}


@pytest.mark.parametrize("name", sorted(TRANSFER_TOTALS))
def test_transfer_examples_validate(name):
    ir = dnnc.compile_spec(EXAMPLES / "transfer" / name)
    assert (ir.trainable_count, ir.non_trainable_count) == TRANSFER_TOTALS[name]
    if name == "fashion_b_sandal_or_shirt.toml":
        assert ir.init_from.layers is None and ir.data["labels"] == "binary"
        assert ir.training.callbacks[0]["layers"] == ["hidden1", "hidden2"]
