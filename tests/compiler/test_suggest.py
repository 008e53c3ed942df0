"""Tests for did_you_mean / format_choices."""

from __future__ import annotations

import pytest

from dnnc.compiler.suggest import did_you_mean, edit_distance, format_choices

LAYERS = [
    "dense", "flatten", "reshape", "batch_norm", "dropout", "relu", "leaky_relu", "elu", "selu",
    "sigmoid", "tanh", "softmax", "softplus", "linear", "maxout", "concatenate", "add",
]  # fmt: skip
LOSSES = ["mse", "mae", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]
DENSE_KEYS = ["units", "activation", "use_bias", "kernel_init", "bias_init", "kernel_regularizer", "bias_regularizer"]


@pytest.mark.parametrize(
    "word, choices, expected",
    [
        ("Dense", LAYERS, "dense"),  # case-insensitive match first
        ("BatchNorm", LAYERS, "batch_norm"),  # then ignoring separators
        ("batch-norm", LAYERS, "batch_norm"),
        ("dence", LAYERS, "dense"),
        ("droput", LAYERS, "dropout"),
        ("leakyrelu", LAYERS, "leaky_relu"),
        ("sofmax", LAYERS, "softmax"),
        ("concat", LAYERS, "concatenate"),
        ("unit", DENSE_KEYS, "units"),
        ("kernel_initializer", DENSE_KEYS, "kernel_init"),
        ("activaton", DENSE_KEYS, "activation"),
        ("sparse_categorical_crossentropie", LOSSES, "sparse_categorical_crossentropy"),
        ("categorical_cross_entropy", LOSSES, "categorical_crossentropy"),
        ("adma", ["adadelta", "adagrad", "adam", "adamax", "adamw", "nadam", "rmsprop", "sgd"], "adam"),  # one swap
        ("conv2d", LAYERS, None),  # nothing close: no suggestion
        ("xyz", DENSE_KEYS, None),
        ("dense", LAYERS, None),  # the word itself is never suggested
        ("dense", [], None),
    ],
)
def test_did_you_mean(word: str, choices: list[str], expected: str | None) -> None:
    assert did_you_mean(word, choices) == expected


def test_did_you_mean_accepts_any_iterable_and_is_deterministic() -> None:
    assert did_you_mean("ad", (c for c in ["add", "adam"])) == did_you_mean("ad", {"adam", "add"})
    assert did_you_mean("RELU", {"relu": 1, "elu": 2}) == "relu"


def test_edit_distance_counts_swaps_as_one_edit() -> None:
    assert edit_distance("adma", "adam") == 1
    assert edit_distance("adma", "adamax") == 2
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3


def test_format_choices() -> None:
    assert format_choices(["c", "a", "b", "a"]) == "'a', 'b', 'c'"
    assert format_choices([]) == ""
    assert format_choices(LAYERS, limit=3) == "'add', 'batch_norm', 'concatenate', … (14 more)"
    assert format_choices(LAYERS) == (
        "'add', 'batch_norm', 'concatenate', 'dense', 'dropout', 'elu', 'flatten', "
        "'leaky_relu', 'linear', 'maxout', 'relu', 'reshape', … (5 more)"
    )
    assert format_choices([10, 2, 1]) == "1, 2, 10"
    assert format_choices(["b", 2, "a"]) == "2, 'a', 'b'"
