"""The `gaussian` diagnostic data set: the spec draft's table, N(0, 1) features, random labels."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from pydantic import ValidationError

from dnnc.runner.datasets import load_data
from dnnc.spec_schema.data import DataSpec, GaussianDataset

DRAFT = """
[data]
dataset = { type = "gaussian", rows = 1000, shape = [100], classes = 10, seed = 0 }   # features N(0, 1), random labels
"""


def test_the_spec_drafts_table_validates_and_means_what_it_says():
    spec = DataSpec.model_validate(tomllib.loads(DRAFT)["data"])
    assert spec.dataset == GaussianDataset(type="gaussian", rows=1000, shape=[100], classes=10, seed=0)
    assert DataSpec.model_validate({"dataset": "gaussian"}) == spec  # those are the defaults
    data = load_data(spec, input_names=["x"], output_names=["y"])
    x, y = data.train.inputs["x"], data.train.targets["y"]
    assert x.shape == (1000, 100) and x.dtype == np.float32
    assert y.shape == (1000,) and y.dtype == np.int64
    assert data.validation is None and data.test is None
    assert data.meta["dataset"] == "gaussian" and data.meta["num_classes"] == {"y": 10}
    # N(0, 1): the mean of 100,000 draws is within 5 standard errors (5 / sqrt(1e5) = 0.016) of 0
    assert abs(float(x.mean())) < 0.016 and abs(float(x.std()) - 1.0) < 0.01
    assert set(np.unique(y)) == set(range(10))
    counts = np.bincount(y, minlength=10)
    assert counts.min() > 60 and counts.max() < 140  # uniform: 100 each, binomial sd 9.5


def test_draws_are_keyed_by_the_seed_only():
    table = {"type": "gaussian", "rows": 50, "shape": [3, 4], "classes": 3, "seed": 7}
    a = load_data(DataSpec.model_validate({"dataset": table}), seed=0)
    b = load_data(DataSpec.model_validate({"dataset": table}), seed=99)  # the training seed does not matter
    c = load_data(DataSpec.model_validate({"dataset": {**table, "seed": 8}}))
    np.testing.assert_array_equal(a.train.inputs["input"], b.train.inputs["input"])
    np.testing.assert_array_equal(a.train.targets["output"], b.train.targets["output"])
    assert a.train.inputs["input"].shape == (50, 3, 4)
    assert not np.array_equal(a.train.inputs["input"], c.train.inputs["input"])
    assert a.train.targets["output"].max() <= 2


def test_validation_rows_and_one_hot_labels():
    data = load_data(DataSpec.model_validate({"dataset": "gaussian", "validation_split": 0.2, "labels": "one_hot"}))
    assert data.train.n == 800 and data.validation.n == 200
    assert data.train.targets["output"].shape == (800, 10)
    np.testing.assert_array_equal(data.train.targets["output"].sum(axis=1), 1.0)


@pytest.mark.parametrize("table, fragment", [
    ({"dataset": {"type": "gaussian", "classes": 1}}, "greater than or equal to 2"),
    ({"dataset": {"type": "gaussian", "rows": 0}}, "greater than 0"),
    ({"dataset": {"type": "gaussian", "shape": []}}, "at least 1 item"),
    ({"dataset": {"type": "gaussian", "seed": -1}}, "greater than or equal to 0"),
    ({"dataset": {"type": "gaussian", "mean": 1}}, "Extra inputs"),
    ({"dataset": "gaussian", "test_split": 0.2}, "test_split only applies to npz/csv"),
])
def test_bad_tables(table, fragment):
    with pytest.raises(ValidationError, match=fragment):
        DataSpec.model_validate(table)
