"""The inspection's layer selection and statistics rules (saturation, zeros, dead units, gradient ratios)."""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.inspection.collect import Inspection, LayerArrays
from dnnc.inspection.layers import Layer, inspected_layers
from dnnc.inspection.stats import activation_stats, inspection_stats
from support.fakes import ir_from_toml

SPEC = """
spec_version = 1
name = "layers"
[model]
input_shape = [2, 2]
layers = [
  { type = "flatten" },
  { type = "dense", units = 3, activation = "tanh" },
  { type = "dropout", rate = 0.5 },
  { type = "dense", units = 3, activation = { type = "leaky_relu", negative_slope = 0.0 } },
  { type = "leaky_relu" },
  { type = "batch_norm" },
  { type = "dense", units = 2, activation = "softmax" },
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = "sgd"
"""


def layer(activation, bounds=None, clamps=False):
    return Layer(index=1, node="n", op="activation", activation=activation, bounds=bounds, clamps_at_zero=clamps,
                 output=None)


def test_shown_layers_titles_and_rules():
    layers = inspected_layers(ir_from_toml(SPEC, name="layers"))
    assert [(l.title, l.node) for l in layers] == [("1-layer", "dense"), ("2-layer", "dense_1"),
                                                   ("3-layer", "leaky_relu"), ("4-layer", "batch_norm"),
                                                   ("5-layer", "dense_2")]
    tanh, leaky0, leaky, bn, out = layers
    assert tanh.bounds == (-1.0, 1.0) and not tanh.clamps_at_zero
    assert leaky0.clamps_at_zero and leaky0.bounds is None  # negative_slope 0 is a ReLU
    assert not leaky.clamps_at_zero  # the default slope 0.01 never gives exact zeros
    assert bn.activation is None and bn.group == "batch_norm"
    assert out.output == "softmax" and out.label == "dense_2 (dense, output logits: softmax head)"
    assert tanh.label == "dense (dense, tanh)" and leaky.label == "leaky_relu (leaky_relu)"


def test_saturation_is_within_005_of_a_bound():
    sigmoid = np.array([0.0, 0.04, 0.05, 0.051, 0.5, 0.949, 0.95, 1.0], np.float32)
    assert activation_stats(layer("sigmoid", (0.0, 1.0)), sigmoid)["saturated_fraction"] == 5 / 8
    tanh = np.array([-1.0, -0.95, -0.94, 0.0, 0.949, 0.95], np.float32)
    stats = activation_stats(layer("tanh", (-1.0, 1.0)), tanh)
    assert stats["saturated_fraction"] == 3 / 6 and "zero_fraction" not in stats


def test_zeros_and_dead_units_of_relu_like_layers():
    a = np.array([[0.0, 0.0, 1.0, 0.0],
                  [2.0, 0.0, 0.0, 0.0],
                  [1e-30, 0.0, 3.0, 0.0]], np.float32)  # units 1 and 3 are zero for every row
    stats = activation_stats(layer("relu", clamps=True), a)
    assert stats["zero_fraction"] == 8 / 12
    assert (stats["dead_units"], stats["units"], stats["dead_fraction"]) == (2, 4, 0.5)
    assert stats["mean"] == pytest.approx(0.5) and stats["min"] == 0.0 and stats["max"] == 3.0
    assert stats["std"] == pytest.approx(np.std(a.astype(np.float64)))
    sequence = np.zeros((2, 5, 3), np.float32)
    sequence[1, 4, 0] = 1.0  # a unit is alive if any row or position is nonzero
    assert activation_stats(layer("relu", clamps=True), sequence)["dead_units"] == 2


def test_gradient_norms_and_their_ratio_to_the_last_layers():
    a = LayerArrays(layer=layer("linear"), activations=np.zeros((2, 2), np.float32),
                    output_gradient=np.array([[3.0, 4.0], [0, 0]], np.float32),
                    weights={"kernel": np.ones((2, 2), np.float32), "bias": np.zeros(2, np.float32)},
                    gradients={"kernel": np.full((2, 2), 1.0, np.float32), "bias": np.array([0.0, 0.0], np.float32)})
    b = LayerArrays(layer=layer("linear"), activations=np.zeros((2, 2), np.float32),
                    output_gradient=np.array([[0.0, 0.5], [0, 0]], np.float32))  # no parameters
    rows = inspection_stats(Inspection("x", 2, {"loss": 0.0}, [a, b]))
    assert rows[0]["output_gradient"]["norm"] == 5.0 and rows[0]["output_gradient"]["norm_ratio"] == 10.0
    assert rows[0]["parameter_gradient_norm"] == 2.0 and rows[0]["parameter_gradient_ratio"] == 1.0
    assert rows[1]["parameter_gradient_norm"] is None and rows[1]["parameter_gradient_ratio"] is None
    assert rows[0]["parameters"]["kernel"]["weights"]["mean"] == 1.0
    b.output_gradient = np.zeros((2, 2), np.float32)
    assert inspection_stats(Inspection("x", 2, {}, [a, b]))[0]["output_gradient"]["norm_ratio"] is None
