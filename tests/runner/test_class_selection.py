"""data.classes (select and relabel classes), data.train_rows and binary labels for one sigmoid unit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dnnc.runner.api import compile_with_overrides, load_datasets
from dnnc.runner.datasets.errors import DataError

SPEC = """
[data]
dataset = {{ type = "npz", path = "d.npz" }}
{data}
[model]
input_shape = [3]
layers = [{{ type = "dense", units = {units}, activation = "{activation}" }}]
[training]
loss = "{loss}"
"""


def load(tmp_path: Path, data: str, units=3, activation="softmax", loss="sparse_categorical_crossentropy"):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.format(data=data, units=units, activation=activation, loss=loss))
    _, ir = compile_with_overrides(spec)
    return load_datasets(ir, base_dir=tmp_path)


@pytest.fixture
def npz(tmp_path) -> np.ndarray:
    y = np.arange(40) % 5  # classes 0…4, in turn
    x = np.stack([y, np.arange(40), -y], axis=1).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return y


def test_classes_as_a_list_keep_and_relabel_by_position(tmp_path, npz):
    data = load(tmp_path, "classes = [4, 1, 2]\nvalidation = { first = 6 }\ntrain_rows = 10")
    assert data.validation.n == 6 and data.train.n == 10
    for split in (data.validation, data.train):
        old = split.inputs["input"][:, 0].astype(int)  # the original class is the first feature
        assert set(old) <= {1, 2, 4}
        np.testing.assert_array_equal(split.targets["dense"], np.select([old == 4, old == 1, old == 2], [0, 1, 2]))
    assert data.train.inputs["input"][0, 1] > data.validation.inputs["input"][-1, 1]  # rows keep their order
    assert data.meta["num_classes"] == {"dense": 3} and "4 → 0" in data.meta["classes"]


def test_classes_as_a_table_can_merge_classes(tmp_path, npz):
    data = load(tmp_path, 'classes = { "0" = 0, "3" = 1, "4" = 1 }', units=2)
    old = data.train.inputs["input"][:, 0].astype(int)
    assert data.train.n == 24 and set(old) == {0, 3, 4}
    np.testing.assert_array_equal(data.train.targets["dense"], (old > 0).astype(np.int64))


def test_two_classes_feed_one_sigmoid_unit(tmp_path, npz):
    data = load(tmp_path, "classes = [2, 3]", units=1, activation="sigmoid", loss="binary_crossentropy")
    y = data.train.targets["dense"]
    assert y.dtype == np.float32 and y.shape == (16, 1)
    np.testing.assert_array_equal(y[:, 0], (data.train.inputs["input"][:, 0] == 3).astype(np.float32))
    with pytest.raises(DataError, match=r'labels = "binary" .* needs labels 0 and 1, found labels up to 4'):
        load(tmp_path, "", units=1, activation="sigmoid", loss="binary_crossentropy")


def test_selection_errors(tmp_path, npz):
    with pytest.raises(DataError, match="no training row has one of these labels"):
        load(tmp_path, "classes = [7, 8]")
    with pytest.raises(DataError, match="train_rows = 100, but there are only 40 training rows"):
        load(tmp_path, "train_rows = 100")


def test_fashion_mnist_sandals_and_shirts(tmp_path, data_dir):
    spec = tmp_path / "b.toml"
    spec.write_text("""
[data]
dataset = "fashion_mnist"
divide_by = 255
classes = [5, 6]
validation = { first = 1000 }
train_rows = 200
[model]
input_shape = [28, 28]
layers = ["flatten", { type = "dense", units = 1, activation = "sigmoid" }]
[training]
loss = "binary_crossentropy"
""")
    _, ir = compile_with_overrides(spec)
    data = load_datasets(ir, base_dir=tmp_path, data_dir=data_dir)
    assert (data.train.n, data.validation.n, data.test.n) == (200, 1000, 2000)
    assert data.test.targets["dense"].sum() == 1000  # 1000 shirts (class 6 → 1) among the 2000 test images
