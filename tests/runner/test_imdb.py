"""`dataset = "imdb"` on a tiny file in the real format (tests/support/imdb_fixture.py): the rows equal
Keras's `imdb.load_data` + `pad_sequences` on the same file, the not-found message, the refusal of foreign
pickles, and a few training steps of the IMDB example on both backends."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import dnnc
from dnnc.runner import train
from dnnc.runner.api import get_backend, load_datasets
from dnnc.runner.datasets import Datasets
from dnnc.runner.datasets.errors import DataError, DatasetNotFound
from dnnc.runner.datasets.imdb import IMDB, load_imdb
from support.imdb_fixture import write_imdb_fixture
from support.paths import EXAMPLES


def test_rows_equal_keras_load_data_and_pad_sequences(tmp_path, monkeypatch):
    path = write_imdb_fixture(tmp_path)
    raw = load_imdb(num_words=40, maxlen=12, data_dir=tmp_path, download=False)
    keras_imdb = pytest.importorskip("keras.src.datasets.imdb")
    from keras.utils import pad_sequences

    monkeypatch.setattr(keras_imdb, "get_file", lambda **kw: str(path))  # Keras reads our file
    (x_train, y_train), (x_test, y_test) = keras_imdb.load_data(num_words=40)
    for part, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        split = getattr(raw, part)
        np.testing.assert_array_equal(split.inputs["input"], pad_sequences(x, maxlen=12))
        np.testing.assert_array_equal(split.targets["output"], y)
        assert split.inputs["input"].dtype == np.int64
    assert raw.meta["files"][0]["official"] is False and raw.meta["warnings"]


def test_offline_not_found_message_names_the_file_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("DNNC_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DNNC_DATA_DIR", raising=False)
    with pytest.raises(DatasetNotFound) as info:
        load_imdb(num_words=100, maxlen=10, data_dir=tmp_path / "nowhere", download=True)
    text = str(info.value)
    assert "IMDB reviews (imdb) was not found" in text and IMDB.sha256 in text and IMDB.url in text
    assert "unset DNNC_OFFLINE" in text


def test_foreign_pickles_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("never runs",))

    path = tmp_path / "imdb" / "imdb.npz"
    path.parent.mkdir()
    evil = np.empty(1, dtype=object)
    evil[0] = Evil()
    np.savez(path, x_train=evil, y_train=np.zeros(1, np.int64), x_test=evil, y_test=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_imdb(num_words=100, maxlen=10, data_dir=tmp_path, download=False)
    assert pickle  # the standard module the fixture's object arrays go through


def test_imdb_example_trains_a_few_steps_identically_on_both_backends(tmp_path):
    import tomllib

    write_imdb_fixture(tmp_path, train=64, test=16)
    spec = tomllib.loads((EXAMPLES / "imdb_bidirectional_lstm.toml").read_text())
    spec["data"]["dataset"].update(num_words=64, maxlen=16)  # the example's layers, a vocabulary and length to fit
    spec["model"]["inputs"][0]["shape"] = [16]
    spec["model"]["layers"][0].update(input_dim=64, output_dim=8)
    spec["model"]["layers"][1]["layer"]["units"] = 8
    spec["training"]["batch_size"] = 16
    ir = dnnc.compile_spec(spec, name="imdb-small")
    ds = load_datasets(ir, base_dir=None, data_dir=tmp_path, download=False)
    assert ds.train.n == 51 and ds.validation.n == 13 and ds.train.inputs["tokens"].shape == (51, 16)  # Keras's split rule
    weights = dnnc.initial_weights(ir)
    runs = {}
    for name in ("torch", "keras"):
        model = get_backend(name, ir).build(ir, weights)
        runs[name] = train(model, ir, Datasets(train=ds.train, validation=ds.validation, test=None), epochs=1).history
    for key in runs["torch"]:
        np.testing.assert_allclose(runs["torch"][key], runs["keras"][key], rtol=2e-5, atol=1e-6, err_msg=key)
