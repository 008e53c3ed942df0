"""`dataset = "california_housing"`: found like MNIST, read as scikit-learn reads it, split as the lecture does;
on a small archive in the real file format (tests/support/housing.py)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

import dnnc
from dnnc.runner.datasets import download as download_mod
from dnnc.runner.datasets.errors import DatasetNotFound
from dnnc.runner.datasets.housing import CALIFORNIA_HOUSING, HousingSource, load_california_housing, split_indices
from support.housing import housing_rows, write_cal_housing_tgz

SPEC = """
[data]
dataset = {dataset}
standardize = true
validation_split = 0.25

[model]
input_shape = [8]
layers = [ {{ type = "dense", units = 1 }} ]

[training]
loss = "mse"
"""


def test_features_target_and_split_follow_scikit_learn(tmp_path):
    write_cal_housing_tgz(tmp_path / "california_housing", n=40, seed=1)
    raw = load_california_housing(data_dir=tmp_path)
    rows = housing_rows(40, 1)
    lon, lat, age, rooms, bedrooms, population, households, income, value = rows.T
    train, test = split_indices(40)
    assert len(test) == math.ceil(0.25 * 40) == 10
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(40))
    np.testing.assert_array_equal(test, np.random.RandomState(42).permutation(40)[:10])
    expected = np.stack([income, age, rooms / households, bedrooms / households, population,
                         population / households, lat, lon], axis=1)
    np.testing.assert_allclose(raw.test.inputs["input"], expected[test], rtol=1e-6)
    np.testing.assert_allclose(raw.train.targets["output"][:, 0], value[train] / 100_000, rtol=1e-6)
    assert raw.meta["files"][0]["official"] is False  # the fixture is not the real archive
    assert raw.meta["found_in"].endswith("(--data-dir)")


def test_the_real_split_has_5160_test_rows():
    train, test = split_indices(CALIFORNIA_HOUSING.rows)
    assert (len(train), len(test)) == (15_480, 5_160)


def test_a_spec_loads_it_through_dataset_path(tmp_path):
    write_cal_housing_tgz(tmp_path / "files", n=80)
    spec = tmp_path / "h.toml"
    spec.write_text(SPEC.format(dataset='{ type = "california_housing", path = "files" }'))
    ir = dnnc.compile_spec(spec)
    from dnnc.runner.api import load_datasets

    data = load_datasets(ir, base_dir=tmp_path)
    assert (data.train.n, data.validation.n, data.test.n) == (45, 15, 20)
    assert data.train.inputs["input"].dtype == np.float32 and data.train.targets["dense"].shape == (45, 1)
    np.testing.assert_allclose(data.train.inputs["input"].mean(axis=0), 0, atol=1e-5)  # standardized on training rows


def test_missing_data_names_every_place_and_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DNNC_DATA_DIR", raising=False)
    monkeypatch.setenv("DNNC_OFFLINE", "1")
    with pytest.raises(DatasetNotFound) as info:
        load_california_housing(data_dir=tmp_path / "nowhere")
    text = str(info.value)
    assert text.startswith("California housing (california_housing) was not found. Places searched, in order:")
    assert f"{tmp_path / 'cache' / 'dnnc' / 'california_housing'} (user cache): no such directory" in text
    assert f"cal_housing.tgz (scikit-learn's archive, SHA-256 {CALIFORNIA_HOUSING.sha256})" in text
    assert f"copy it into the cache directory {tmp_path / 'cache' / 'dnnc' / 'california_housing'}" in text
    assert "download: disabled by $DNNC_OFFLINE=1" in text and "(unset DNNC_OFFLINE to allow it)" in text


def test_the_download_is_checked_against_its_sha256(tmp_path, monkeypatch):
    """pooch's real download path over a fake HTTP layer: kept when the checksum matches, discarded otherwise."""
    import requests

    payload = write_cal_housing_tgz(tmp_path / "mirror").read_bytes()

    class Response:
        headers = {"content-length": str(len(payload))}

        def raise_for_status(self):
            pass

        def iter_content(self, chunk_size):
            for i in range(0, len(payload), chunk_size):
                yield payload[i : i + chunk_size]

    monkeypatch.setattr(requests, "get", lambda url, timeout, **kw: Response())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DNNC_DATA_DIR", raising=False)
    monkeypatch.delenv("DNNC_OFFLINE", raising=False)
    good = HousingSource(url="https://example.invalid/cal_housing.tgz", sha256=hashlib.sha256(payload).hexdigest())
    raw = load_california_housing(data_dir=tmp_path / "nowhere", source=good)
    assert raw.meta["found_in"] == "downloaded" and raw.meta["files"][0]["official"] is True
    assert (tmp_path / "cache" / "dnnc" / "california_housing" / "cal_housing.tgz").read_bytes() == payload
    bad = HousingSource(url=good.url, sha256="0" * 64)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache2"))
    with pytest.raises(DatasetNotFound, match="SHA-256 does not match the official checksum"):
        load_california_housing(data_dir=tmp_path / "nowhere", source=bad)
    assert not (tmp_path / "cache2" / "dnnc" / "california_housing" / "cal_housing.tgz").exists()
    assert download_mod.CONNECT_TIMEOUT > 0


def test_builtin_only_keys_are_refused(tmp_path):
    spec = tmp_path / "h.toml"
    spec.write_text(SPEC.format(dataset='"california_housing"').replace("standardize = true", "test_split = 0.1"))
    with pytest.raises(dnnc.SpecError, match="test_split only applies to npz/csv files: 'california_housing' has its own"):
        dnnc.compile_spec(spec)
