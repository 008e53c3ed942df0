"""The `[data]` table: the spec-draft forms validate, bad ones are rejected with the bound in the message."""

from __future__ import annotations

import json
import tomllib

import pytest
from pydantic import ValidationError

from dnnc.spec_schema.data import (
    BUILTIN_DATASET_MODELS,
    CaliforniaHousingDataset,
    ImdbDataset,
    CsvDataset,
    DataSpec,
    FashionMnistDataset,
    GaussianDataset,
    MnistDataset,
    NpzDataset,
    XorDataset,
)


def parse(toml_text: str) -> DataSpec:
    return DataSpec.model_validate(tomllib.loads(toml_text)["data"])


# --------------------------------------------------------------------------
# The forms of the spec draft
# --------------------------------------------------------------------------


def test_seed_004_mnist_validation_split():
    spec = parse('[data]\ndataset = "mnist"\ndivide_by = 255\nvalidation_split = 0.2\n')
    assert spec.dataset == MnistDataset(type="mnist")
    assert spec.divide_by == 255.0
    assert spec.validation_split == 0.2
    assert spec.validation is None
    assert spec.labels == "sparse"
    assert spec.standardize is False


def test_seed_003_fashion_first_5000():
    spec = parse('[data]\ndataset = "fashion_mnist"\ndivide_by = 255\nvalidation = { first = 5000 }\n')
    assert isinstance(spec.dataset, FashionMnistDataset)
    assert spec.validation.first == 5000
    assert spec.validation.last is None and spec.validation.random is None
    assert spec.validation_split is None


def test_seed_001_xor_shorthand_equals_table():
    short = parse('[data]\ndataset = "xor"\n')
    table = parse('[data]\ndataset = { type = "xor" }\n')
    assert short == table
    assert short.dataset == XorDataset(type="xor", repeat=1, noise=0.0)


def test_user_npz_contract_example():
    spec = parse(
        """
[data]
dataset = { type = "npz", path = "housing.npz" }
features = { wide = "x_wide", deep = "x_deep" }
targets = { main = "y", aux = "y" }
test_split = 0.2
validation_split = 0.2
standardize = true
"""
    )
    assert spec.dataset == NpzDataset(type="npz", path="housing.npz")
    assert spec.features == {"wide": "x_wide", "deep": "x_deep"}
    assert spec.targets == {"main": "y", "aux": "y"}
    assert (spec.test_split, spec.validation_split, spec.standardize) == (0.2, 0.2, True)


def test_user_csv_forms():
    spec = parse(
        """
[data]
dataset = { type = "csv", path = "housing.csv", delimiter = ";" }
features = ["a", "b", "c"]
targets = "price"
sample_weight = "w"
"""
    )
    assert spec.dataset == CsvDataset(type="csv", path="housing.csv", delimiter=";", header=True)
    assert spec.features == ["a", "b", "c"]
    assert spec.targets == "price"
    multi = parse(
        '[data]\ndataset = { type = "csv", path = "h.csv" }\n'
        'features = { wide = ["a", "b"], deep = "c" }\ntargets = { main = "y", aux = ["y", "z"] }\n'
    )
    assert multi.features == {"wide": ["a", "b"], "deep": "c"}


@pytest.mark.parametrize(
    "table",
    [
        {"dataset": {"type": "mnist", "path": "data/mnist"}},
        {"dataset": {"type": "fashion_mnist", "path": "/usr/share/datasets/fashion-mnist"}},
        {"dataset": {"type": "xor", "repeat": 25, "noise": 0.05}},
        {"dataset": "mnist", "validation": {"last": 10000}},
        {"dataset": "mnist", "validation": {"random": 0.1}},
        {"dataset": "mnist", "validation": {"random": 0.1, "seed": 7}},
        {"dataset": "mnist", "labels": "one_hot", "reshape": [784]},
        {"dataset": "mnist", "reshape": [28, 28], "validation_split": 0.0},
        {"dataset": {"type": "npz", "path": "d.npz"}, "features": "x", "targets": "y", "task": "regression"},
        {"dataset": {"type": "npz", "path": "d.npz"}, "reshape": {"a": [4, 4]}, "num_classes": 3},
    ],
)
def test_valid_tables(table):
    DataSpec.model_validate(table)
    json.dumps(DataSpec.model_validate(table).model_dump())  # plain data


def test_builtin_dataset_models_are_the_union():
    assert BUILTIN_DATASET_MODELS == [MnistDataset, FashionMnistDataset, XorDataset, GaussianDataset,
                                      CaliforniaHousingDataset, ImdbDataset, NpzDataset, CsvDataset]
    tags = {m.model_fields["type"].annotation.__args__[0] for m in BUILTIN_DATASET_MODELS}
    assert tags == {"mnist", "fashion_mnist", "xor", "gaussian", "california_housing", "imdb", "npz", "csv"}


def test_json_schema_documents_defaults():
    schema = DataSpec.model_json_schema()
    props = schema["properties"]
    for key in ("divide_by", "labels", "validation_split", "test_split", "standardize", "features", "targets",
                "classes", "train_rows"):
        assert "default" in props[key]["description"].lower(), key
    assert 'default "sparse"' in props["labels"]["description"]
    assert "LAST" in props["validation_split"]["description"]


# --------------------------------------------------------------------------
# Rejected tables
# --------------------------------------------------------------------------


def errors_of(table) -> str:
    with pytest.raises(ValidationError) as info:
        DataSpec.model_validate(table)
    return str(info.value)


def test_validation_split_must_be_below_one():
    text = errors_of({"dataset": "mnist", "validation_split": 1.2})
    assert "validation_split" in text and "less than 1" in text


def test_negative_split_and_divide_by_bounds():
    assert "greater than or equal to 0" in errors_of({"dataset": "mnist", "validation_split": -0.1})
    assert "greater than 0" in errors_of({"dataset": "mnist", "divide_by": 0})
    assert "less than 1" in errors_of({"dataset": {"type": "npz", "path": "a.npz"}, "test_split": 1.0})


def test_validation_and_validation_split_are_exclusive():
    text = errors_of({"dataset": "mnist", "validation_split": 0.2, "validation": {"first": 5000}})
    assert "exclusive" in text and "validation_split = 0.2" in text


def test_unknown_keys_are_errors():
    assert "Extra inputs are not permitted" in errors_of({"dataset": "mnist", "divide": 255})
    assert "Extra inputs" in errors_of({"dataset": {"type": "mnist", "dir": "x"}})
    assert "Extra inputs" in errors_of({"dataset": "mnist", "validation": {"first": 3, "middle": 2}})


def test_unknown_dataset_type_lists_the_known_ones():
    text = errors_of({"dataset": "fashion-mnist"})
    assert "'fashion_mnist'" in text and "'npz'" in text


@pytest.mark.parametrize(
    "validation, fragment",
    [
        ({"first": 5, "last": 3}, "exactly one of first, last, random (received: first, last)"),
        ({}, "exactly one of first, last, random (received: none of them)"),
        ({"first": 0}, "greater than 0"),
        ({"random": 1.0}, "less than 1"),
        ({"last": 3, "seed": 1}, "seed only applies"),
    ],
)
def test_bad_validation_tables(validation, fragment):
    assert fragment in errors_of({"dataset": "mnist", "validation": validation})


def test_user_file_keys_are_refused_for_builtins():
    assert "test_split only applies to npz/csv" in errors_of({"dataset": "mnist", "test_split": 0.1})
    assert "features only applies" in errors_of({"dataset": "xor", "features": "x"})
    assert "task only applies" in errors_of({"dataset": "mnist", "task": "regression"})


def test_npz_needs_path_and_refuses_column_lists():
    assert "path" in errors_of({"dataset": "npz"})
    assert "lists of columns are for csv" in errors_of(
        {"dataset": {"type": "npz", "path": "a.npz"}, "features": ["a", "b"]}
    )


def test_csv_needs_targets_and_one_char_delimiter():
    assert "csv data needs `targets`" in errors_of({"dataset": {"type": "csv", "path": "a.csv"}})
    assert "delimiter" in errors_of({"dataset": {"type": "csv", "path": "a.csv", "delimiter": ";;"}, "targets": "y"})


def test_bad_labels_and_reshape():
    assert "'sparse', 'one_hot' or 'binary'" in errors_of({"dataset": "mnist", "labels": "onehot"})
    assert "greater than 0" in errors_of({"dataset": "mnist", "reshape": [0, 784]})


def test_specs_are_frozen():
    spec = DataSpec.model_validate({"dataset": "mnist"})
    with pytest.raises(ValidationError):
        spec.divide_by = 3.0
