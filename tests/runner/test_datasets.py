"""Data loading: IDX files, locating standard data sets, user files, and the preparation steps."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from dnnc.runner.datasets import (
    DataError,
    DatasetNotFound,
    load_data,
    locate_dataset,
    read_idx,
    read_idx_file,
)
from dnnc.runner.datasets import download as download_mod
from dnnc.runner.datasets import locate as locate_mod
from dnnc.runner.datasets.catalog import FASHION_MNIST, MNIST
from dnnc.spec_schema.data import DataSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
REAL_DATA_DIR = os.environ.get("DNNC_DATA_DIR", "")


def real_dir(name: str) -> Path:
    """The directory of a real data set under $DNNC_DATA_DIR, or skip."""
    if not REAL_DATA_DIR:
        pytest.skip("DNNC_DATA_DIR is not set: no real MNIST/Fashion-MNIST files to test with")
    d = Path(REAL_DATA_DIR) / name
    if not (d / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{d} does not hold the IDX files")
    return d


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No real cache, no system directories, no downloads unless a test asks for them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(locate_mod, "SYSTEM_DIRS", (tmp_path / "system",))
    monkeypatch.delenv("DNNC_DATA_DIR", raising=False)
    monkeypatch.setenv("DNNC_OFFLINE", "1")


def spec(**table) -> DataSpec:
    return DataSpec.model_validate(table)


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_fake_standard(directory: Path, n_train: int = 12, n_test: int = 4, gz: bool = True, marker: int = 0) -> Path:
    """Four tiny MNIST-style files; pixel [0, 0, 0] of the first training image holds ``marker``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(marker)
    train_x = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    train_x[0, 0, 0] = marker
    arrays = {
        "train-images-idx3-ubyte": train_x,
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx(directory / (name + (".gz" if gz else "")), array, gz=gz)
    return directory


def test_idx_round_trip_gzip_and_plain(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for gz in (True, False):
        path = write_idx(tmp_path / f"a{gz}", a, gz=gz)
        f = read_idx_file(path)
        np.testing.assert_array_equal(f.array, a)
        assert f.array.dtype == np.uint8
    # multi-byte big-endian types come back in native order
    raw = bytes([0, 0, 0x0C, 1]) + np.array([3], ">u4").tobytes() + np.array([1, -2, 70000], ">i4").tobytes()
    (tmp_path / "i32").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "i32"), [1, -2, 70000])


def test_real_mnist_idx_files():
    d = real_dir("mnist")
    images = read_idx_file(d / "train-images-idx3-ubyte.gz")
    labels = read_idx(d / "train-labels-idx1-ubyte.gz")
    test_images = read_idx(d / "t10k-images-idx3-ubyte.gz")
    test_labels = read_idx(d / "t10k-labels-idx1-ubyte.gz")
    assert images.array.shape == (60000, 28, 28) and images.array.dtype == np.uint8
    assert labels.shape == (60000,) and test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)
    assert labels.min() == 0 and labels.max() == 9 and set(np.unique(test_labels)) == set(range(10))
    assert images.array.max() == 255 and images.array.min() == 0
    assert images.raw_sha256 == MNIST.raw_sha256["train_images"]  # the genuine data
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's famous first digits


def test_real_fashion_mnist_load_data():
    d = real_dir("fashion-mnist")
    data = load_data(spec(dataset="fashion_mnist", divide_by=255, validation={"first": 5000}), data_dir=d.parent)
    assert (data.train.n, data.validation.n, data.test.n) == (55000, 5000, 10000)
    x = data.train.inputs["input"]
    assert x.dtype == np.float32 and x.shape == (55000, 28, 28) and 0.0 <= x.min() and x.max() <= 1.0
    y = data.train.targets["output"]
    assert y.dtype == np.int64 and y.shape == (55000,) and y.min() == 0 and y.max() == 9
    assert data.meta["dataset"] == "fashion_mnist" and data.meta["num_classes"] == {"output": 10}
    assert all(f["official"] for f in data.meta["files"])
    # validation = the first 5,000 training images, untouched by anything else
    raw_labels = read_idx(d / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(data.validation.targets["output"], raw_labels[:5000])
    np.testing.assert_array_equal(y, raw_labels[5000:])


def test_real_mnist_reshaped_to_model_input_and_split_like_keras():
    d = real_dir("mnist")
    data = load_data(
        spec(dataset="mnist", divide_by=255, validation_split=0.2), data_dir=d.parent, input_shapes={"input": [784]}
    )
    assert data.train.inputs["input"].shape == (48000, 784)
    assert data.validation.inputs["input"].shape == (12000, 784)
    raw = read_idx(d / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(data.validation.inputs["input"][0], raw[48000].reshape(784) / 255.0, rtol=1e-6)


def test_wrong_data_set_in_directory_is_refused(tmp_path):
    d = real_dir("mnist")
    with pytest.raises(DataError, match="holds MNIST, not Fashion-MNIST"):
        load_data(spec(dataset={"type": "fashion_mnist", "path": str(d)}))


@pytest.mark.parametrize(
    "mangle, fragment",
    [
        (lambda b: b[:-100], "truncated IDX file"),
        (lambda b: b[:6], "truncated header"),
        (lambda b: b"\x1f\x00" + b[2:], "not an IDX file"),
        (lambda b: b[:2] + b"\x42" + b[3:], "not an IDX file"),
        (lambda b: b + b"\x00\x00", "data bytes follow"),
        (lambda b: b[:3], "too short"),
    ],
)
def test_corrupt_plain_idx_errors_name_the_file(tmp_path, mangle, fragment):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(mangle(idx_bytes(np.zeros((5, 28, 28), np.uint8))))
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_corrupt_and_truncated_gzip_errors_name_the_file(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    truncated = tmp_path / "t.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"gzip stream is truncated") as info:
        read_idx(truncated)
    assert str(truncated) in str(info.value)
    corrupt = tmp_path / "c.gz"
    corrupt.write_bytes(good[:10] + b"\xff" * 40 + good[50:])
    with pytest.raises(DataError, match=r"corrupt IDX file .*c\.gz"):
        read_idx(corrupt)
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "missing.gz")


# --------------------------------------------------------------------------
# Locating MNIST / Fashion-MNIST
# --------------------------------------------------------------------------


def test_search_order(tmp_path, monkeypatch):
    cli = write_fake_standard(tmp_path / "cli", marker=1)  # files directly in the directory
    spec_dir = write_fake_standard(tmp_path / "specdir" / "mnist", marker=2).parent  # <dir>/mnist layout
    env = write_fake_standard(tmp_path / "env" / "mnist", marker=3).parent
    cache = write_fake_standard(tmp_path / "cache" / "dnnc" / "mnist", marker=4)
    system = write_fake_standard(tmp_path / "system" / "mnist", marker=5)
    monkeypatch.setenv("DNNC_DATA_DIR", str(env))

    def source(**kw):
        found = locate_dataset("mnist", **kw)
        return found.source, found.directory

    assert source(data_dir=cli, path="specdir", base_dir=tmp_path) == ("--data-dir", cli)
    assert source(path="specdir", base_dir=tmp_path) == ("dataset.path in the spec", spec_dir / "mnist")
    assert source() == ("$DNNC_DATA_DIR", env / "mnist")
    monkeypatch.delenv("DNNC_DATA_DIR")
    assert source() == ("user cache", cache)
    shutil.rmtree(cache)
    assert source() == ("system location", system)
    # the loaded arrays really come from the directory found
    data = load_data(spec(dataset="mnist"), data_dir=cli)
    assert data.train.inputs["input"][0, 0, 0] == 1 and data.train.n == 12 and data.test.n == 4
    assert data.meta["found_in"].endswith("(--data-dir)") and data.meta["files"][0]["official"] is False


def test_fashion_layouts_and_plain_files(tmp_path, monkeypatch):
    write_fake_standard(tmp_path / "a" / "fashion_mnist", gz=False)
    found = locate_dataset("fashion_mnist", data_dir=tmp_path / "a")
    assert found.directory == tmp_path / "a" / "fashion_mnist"
    assert found.files["train_images"].name == "train-images-idx3-ubyte"
    write_fake_standard(tmp_path / "b" / "fashion-mnist")
    monkeypatch.setenv("DNNC_DATA_DIR", os.pathsep.join([str(tmp_path / "nothing"), str(tmp_path / "b")]))
    assert locate_dataset("fashion_mnist").directory == tmp_path / "b" / "fashion-mnist"
    write_fake_standard(tmp_path / "system" / "fashion-mnist")  # where Debian's package installs it
    monkeypatch.delenv("DNNC_DATA_DIR")
    assert locate_dataset("fashion_mnist").source == "system location"


def test_offline_message_lists_every_place(tmp_path):
    incomplete = write_fake_standard(tmp_path / "partial")
    (incomplete / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFound) as info:
        locate_dataset("fashion_mnist", data_dir=incomplete, path="nowhere", base_dir=tmp_path)
    text = str(info.value)
    lines = text.splitlines()
    assert lines[0] == "Fashion-MNIST (fashion_mnist) was not found. Places searched, in order:"
    assert f"  1. {incomplete / 'fashion-mnist'} (--data-dir): no such directory" in lines
    assert f"  2. {incomplete} (--data-dir): incomplete, missing t10k-labels-idx1-ubyte.gz" in lines
    assert f"  3. {tmp_path / 'nowhere' / 'fashion-mnist'} (dataset.path in the spec): no such directory" in lines
    assert "  5. $DNNC_DATA_DIR: not set" in lines
    assert f"  6. {tmp_path / 'cache' / 'dnnc' / 'fashion-mnist'} (user cache): no such directory" in lines
    assert f"  7. {tmp_path / 'system' / 'fashion-mnist'} (system location): no such directory" in lines
    assert "  8. download: disabled by $DNNC_OFFLINE=1" in lines
    for needed in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "--data-dir", "DNNC_DATA_DIR"):
        assert needed in text
    assert "apt install dataset-fashion-mnist" in text
    assert str(tmp_path / "cache" / "dnnc" / "fashion-mnist") in text
    assert "Traceback" not in text and len(info.value.places) == 8


def test_download_disabled_by_argument(tmp_path, monkeypatch):
    monkeypatch.delenv("DNNC_OFFLINE")
    with pytest.raises(DatasetNotFound, match=r"download: disabled by the caller"):
        load_data(spec(dataset="mnist"), download=False)


def test_failed_download_is_reported_cleanly(tmp_path, monkeypatch):
    import requests

    monkeypatch.delenv("DNNC_OFFLINE")
    calls = []

    def fake_retrieve(url, known_hash, fname, path, downloader, progressbar):
        calls.append((url, known_hash, fname, Path(path)))
        raise requests.exceptions.ConnectionError("Failed to resolve 'storage.googleapis.com' (NameResolutionError)")

    import pooch

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    with pytest.raises(DatasetNotFound) as info:
        locate_dataset("mnist")
    assert len(calls) == 1  # gives up after the first (smallest) file
    url, known_hash, fname, path = calls[0]
    assert url == MNIST.base_url + "t10k-labels-idx1-ubyte.gz"
    assert known_hash == "sha256:" + MNIST.sha256["test_labels"]
    assert path == tmp_path / "cache" / "dnnc" / "mnist"
    last = info.value.places[-1]
    assert last == (
        f"download into {path}: failed: {url}: could not resolve the host name (no network?)"
    )


def test_download_success_lands_in_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("DNNC_OFFLINE")
    source = write_fake_standard(tmp_path / "mirror")

    def fake_retrieve(url, known_hash, fname, path, downloader, progressbar):
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.copy(source / fname, Path(path) / fname)
        return str(Path(path) / fname)

    import pooch

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    found = locate_dataset("fashion_mnist")
    assert found.source == "downloaded" and found.directory == tmp_path / "cache" / "dnnc" / "fashion-mnist"
    assert locate_dataset("fashion_mnist").source == "user cache"  # next time: no download


def test_download_failure_descriptions():
    import requests

    assert "timed out" in download_mod.describe_failure(requests.exceptions.ConnectTimeout("x"))
    assert "SHA-256 does not match" in download_mod.describe_failure(ValueError("SHA256 hash of downloaded file ... does not match the known hash"))
    assert download_mod.describe_failure(PermissionError(13, "Permission denied", "/c")) == "Permission denied: /c"


def test_official_checksums_match_the_real_files():
    for name, catalog in (("mnist", MNIST), ("fashion-mnist", FASHION_MNIST)):
        d = real_dir(name)
        f = read_idx_file(d / "t10k-labels-idx1-ubyte.gz")
        assert f.raw_sha256 == catalog.raw_sha256["test_labels"]


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------


def rows_npz(tmp_path: Path, n: int, **extra) -> Path:
    """x[i] = [i, 2i], y[i] = i % 3 (class labels), plus any extra arrays."""
    path = tmp_path / "rows.npz"
    x = np.stack([np.arange(n), 2 * np.arange(n)], axis=1).astype(np.float64)
    np.savez(path, x=x, y=(np.arange(n) % 3).astype(np.int32), **extra)
    return path


def row_ids(split) -> list[int]:
    return split.inputs["input"][:, 0].astype(int).tolist()


@pytest.mark.parametrize(
    "n, fraction, n_train",
    # Keras: split_at = floor(n * (1 - fraction)); validation = rows[split_at:]
    [(100, 0.2, 80), (10, 0.25, 7), (7, 0.5, 3), (10, 0.3, 7), (3, 0.1, 2), (1000, 0.15, 850), (9, 0.33, 6)],
)
def test_validation_split_takes_the_last_rows_like_keras(tmp_path, n, fraction, n_train):
    data = load_data(spec(dataset={"type": "npz", "path": str(rows_npz(tmp_path, n))}, validation_split=fraction))
    assert row_ids(data.train) == list(range(n_train))
    assert row_ids(data.validation) == list(range(n_train, n))
    assert data.test is None and data.meta["rows"] == {"train": n_train, "validation": n - n_train, "test": 0}


def test_validation_first_last(tmp_path):
    path = str(rows_npz(tmp_path, 10))
    first = load_data(spec(dataset={"type": "npz", "path": path}, validation={"first": 3}))
    assert row_ids(first.validation) == [0, 1, 2] and row_ids(first.train) == list(range(3, 10))
    last = load_data(spec(dataset={"type": "npz", "path": path}, validation={"last": 4}))
    assert row_ids(last.validation) == [6, 7, 8, 9] and row_ids(last.train) == list(range(6))
    with pytest.raises(DataError, match="validation.first = 10, but there are only 10 training rows"):
        load_data(spec(dataset={"type": "npz", "path": path}, validation={"first": 10}))


def test_validation_random(tmp_path):
    path = str(rows_npz(tmp_path, 50))
    s = spec(dataset={"type": "npz", "path": path}, validation={"random": 0.2})
    a, b, c = load_data(s, seed=0), load_data(s, seed=0), load_data(s, seed=1)
    assert a.validation.n == 10 and a.train.n == 40  # 50 - floor(50 * 0.8)
    assert row_ids(a.validation) == row_ids(b.validation)  # deterministic
    assert row_ids(a.validation) != row_ids(c.validation)  # keyed by the seed
    assert sorted(row_ids(a.validation) + row_ids(a.train)) == list(range(50))  # a partition
    assert row_ids(a.train) == sorted(row_ids(a.train)) and row_ids(a.validation) == sorted(row_ids(a.validation))
    assert row_ids(a.validation) != list(range(40, 50))  # not just the tail
    # rows stay aligned: x[:, 1] = 2 x[:, 0] and y = x % 3 in both parts
    for part in (a.train, a.validation):
        np.testing.assert_array_equal(part.inputs["input"][:, 1], 2 * part.inputs["input"][:, 0])
        np.testing.assert_array_equal(part.targets["output"], part.inputs["input"][:, 0].astype(int) % 3)
    fixed = spec(dataset={"type": "npz", "path": path}, validation={"random": 0.2, "seed": 1})
    assert row_ids(load_data(fixed, seed=0).validation) == row_ids(c.validation)


def test_test_split_before_validation_split(tmp_path):
    data = load_data(spec(dataset={"type": "npz", "path": str(rows_npz(tmp_path, 20))}, test_split=0.2, validation_split=0.25))
    assert row_ids(data.test) == list(range(16, 20))
    assert row_ids(data.validation) == list(range(12, 16))
    assert row_ids(data.train) == list(range(12))
    assert data.meta["test"] == "last 4 of 20 rows (test_split = 0.2)"


def test_separate_test_arrays_and_test_split_conflict(tmp_path):
    path = tmp_path / "tt.npz"
    np.savez(path, x_train=np.zeros((8, 3)), y_train=np.arange(8), x_test=np.ones((2, 3)), y_test=np.arange(2))
    data = load_data(spec(dataset={"type": "npz", "path": str(path)}))  # default keys x / y find x_train, x_test
    assert (data.train.n, data.test.n) == (8, 2) and data.test.inputs["input"].min() == 1.0
    with pytest.raises(DataError, match="already has separate test arrays"):
        load_data(spec(dataset={"type": "npz", "path": str(path)}, test_split=0.2))
    explicit = load_data(spec(dataset={"type": "npz", "path": str(path)}, features="x_train", targets="y_train"))
    assert explicit.test.n == 2


# --------------------------------------------------------------------------
# Features and labels
# --------------------------------------------------------------------------


def test_standardize_is_fitted_on_training_rows_only(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(5.0, 2.0, size=(80, 3)), rng.normal(100.0, 1.0, size=(20, 3))])
    x[:, 2] = 7.0  # a constant feature
    path = tmp_path / "s.npz"
    np.savez(path, x=x, y=rng.normal(size=100))
    data = load_data(spec(dataset={"type": "npz", "path": str(path)}, validation_split=0.2, standardize=True))
    train, val = data.train.inputs["input"], data.validation.inputs["input"]
    assert train.dtype == np.float32
    np.testing.assert_allclose(train[:, :2].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train[:, :2].std(axis=0), 1.0, atol=1e-5)
    mean, std = x[:80].mean(axis=0), x[:80].std(axis=0)
    np.testing.assert_allclose(val[:, :2], (x[80:, :2] - mean[:2]) / std[:2], rtol=1e-5)
    assert val[:, :2].mean() > 20  # the validation rows were NOT standardised on themselves
    np.testing.assert_array_equal(train[:, 2], 0.0)  # std 0 counts as 1
    assert data.meta["standardize"]["input"]["std"][2] == 1.0
    np.testing.assert_allclose(data.meta["standardize"]["input"]["mean"], mean, rtol=1e-6)


def test_divide_by_reshape_and_input_shapes(tmp_path):
    path = tmp_path / "img.npz"
    np.savez(path, x=np.full((6, 4, 4), 51, np.uint8), y=np.arange(6))
    data = load_data(spec(dataset={"type": "npz", "path": str(path)}, divide_by=255, reshape=[16]))
    x = data.train.inputs["input"]
    assert x.shape == (6, 16) and x.dtype == np.float32
    np.testing.assert_allclose(x, 0.2, rtol=1e-7)
    auto = load_data(spec(dataset={"type": "npz", "path": str(path)}), input_shapes={"input": [2, 8]})
    assert auto.train.inputs["input"].shape == (6, 2, 8)
    with pytest.raises(DataError, match=r"samples of shape \(4, 4\) \(16 values\) cannot be reshaped to \(15,\)"):
        load_data(spec(dataset={"type": "npz", "path": str(path)}), input_shapes={"input": [15]})


def test_one_hot_labels(tmp_path):
    path = rows_npz(tmp_path, 9)  # labels 0, 1, 2, 0, ...
    data = load_data(spec(dataset={"type": "npz", "path": str(path)}, labels="one_hot"))
    y = data.train.targets["output"]
    assert y.dtype == np.float32 and y.shape == (9, 3)
    np.testing.assert_array_equal(y.argmax(axis=1), np.arange(9) % 3)
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)
    assert data.meta["num_classes"] == {"output": 3}
    wide = load_data(spec(dataset={"type": "npz", "path": str(path)}, labels="one_hot", num_classes=5))
    assert wide.train.targets["output"].shape == (9, 5)
    sparse = load_data(spec(dataset={"type": "npz", "path": str(path)}))
    assert sparse.train.targets["output"].dtype == np.int64 and sparse.train.targets["output"].shape == (9,)
    with pytest.raises(DataError, match="label 2 is out of range for num_classes = 2"):
        load_data(spec(dataset={"type": "npz", "path": str(path)}, num_classes=2))


def test_one_hot_needs_integer_labels(tmp_path):
    path = tmp_path / "reg.npz"
    np.savez(path, x=np.zeros((4, 2)), y=np.linspace(0, 1, 4))
    with pytest.raises(DataError, match='labels = "one_hot" applies to integer class labels'):
        load_data(spec(dataset={"type": "npz", "path": str(path)}, labels="one_hot"))
    data = load_data(spec(dataset={"type": "npz", "path": str(path)}))
    assert data.train.targets["output"].shape == (4, 1) and data.train.targets["output"].dtype == np.float32
    as_classes = load_data(spec(dataset={"type": "npz", "path": str(rows_npz(tmp_path, 6))}, task="regression"))
    assert as_classes.train.targets["output"].dtype == np.float32


def test_xor():
    data = load_data(spec(dataset="xor"))
    np.testing.assert_array_equal(data.train.inputs["input"], [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.train.targets["output"], [[0], [1], [1], [0]])
    assert data.train.targets["output"].dtype == np.float32 and data.validation is None and data.test.n == 4
    hot = load_data(spec(dataset="xor", labels="one_hot"), input_names=["x"], output_names=["y"])
    np.testing.assert_array_equal(hot.train.targets["y"], [[1, 0], [0, 1], [0, 1], [1, 0]])
    noisy = spec(dataset={"type": "xor", "repeat": 10, "noise": 0.1})
    a, b = load_data(noisy, seed=3), load_data(noisy, seed=3)
    assert a.train.n == 40 and a.test.n == 4
    np.testing.assert_array_equal(a.train.inputs["input"], b.train.inputs["input"])
    dev = a.train.inputs["input"] - np.tile([[0, 0], [0, 1], [1, 0], [1, 1]], (10, 1))
    assert 0.05 < dev.std() < 0.15


# --------------------------------------------------------------------------
# User files
# --------------------------------------------------------------------------


def test_npz_multi_input_multi_output_housing_example():
    s = spec(
        dataset={"type": "npz", "path": "housing_like.npz"},
        features={"wide": "x_wide", "deep": "x_deep"},
        targets={"main": "y", "aux": "y"},
        test_split=0.2,
        validation_split=0.2,
        standardize=True,
    )
    data = load_data(s, base_dir=EXAMPLES, input_names=["wide", "deep"], output_names=["main", "aux"])
    assert data.meta["rows"] == {"train": 1280, "validation": 320, "test": 400}
    assert data.train.inputs["wide"].shape == (1280, 5) and data.train.inputs["deep"].shape == (1280, 6)
    assert data.test.targets["main"].shape == (400, 1) and data.test.targets["main"].dtype == np.float32
    np.testing.assert_array_equal(data.train.targets["main"], data.train.targets["aux"])
    assert data.meta["feature_shapes"] == {"wide": [5], "deep": [6]}
    assert data.meta["files"][0]["path"] == str(EXAMPLES / "housing_like.npz")
    assert EXAMPLES.joinpath("housing_like.npz").stat().st_size < 300_000


def test_npz_missing_key_lists_the_available_ones(tmp_path):
    path = rows_npz(tmp_path, 5, w=np.ones(5))
    with pytest.raises(DataError) as info:
        load_data(spec(dataset={"type": "npz", "path": "rows.npz"}, features="inputs"), base_dir=tmp_path)
    text = str(info.value)
    assert str(path) in text and "'inputs'" in text and "arrays in the file: x, y, w" in text
    with pytest.raises(DataError, match=r"data file .*nothere\.npz not found"):
        load_data(spec(dataset={"type": "npz", "path": "nothere.npz"}), base_dir=tmp_path)


def test_names_must_match_the_model(tmp_path):
    path = str(rows_npz(tmp_path, 5))
    with pytest.raises(DataError, match=r"no entry for 'deep'.*model inputs: wide, deep"):
        load_data(spec(dataset={"type": "npz", "path": path}, features={"wide": "x"}), input_names=["wide", "deep"])
    with pytest.raises(DataError, match=r"the model has 2 outputs \(main, aux\): give `targets` as a table"):
        load_data(spec(dataset={"type": "npz", "path": path}), output_names=["main", "aux"])


def test_npz_rows_must_agree(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match=r"same number of rows \(x: 5, y: 4\)"):
        load_data(spec(dataset={"type": "npz", "path": str(path)}))


CSV = """a,b,c,label,price,w
1,2.5,3,0,10.5,1
4,5.5,6,2,20.25,0.5
7,8.5,9,1,30,2
10,11.5,12,2,40,1
"""


def test_csv_columns(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    base = {"dataset": {"type": "csv", "path": "t.csv"}}
    data = load_data(spec(**base, features=["a", "b"], targets="label", sample_weight="w"), base_dir=tmp_path)
    np.testing.assert_array_equal(data.train.inputs["input"], [[1, 2.5], [4, 5.5], [7, 8.5], [10, 11.5]])
    y = data.train.targets["output"]
    assert y.dtype == np.int64 and y.tolist() == [0, 2, 1, 2]  # integer column → class labels
    np.testing.assert_array_equal(data.train.sample_weight, [1, 0.5, 2, 1])
    reg = load_data(spec(**base, targets="price", validation_split=0.25), base_dir=tmp_path)
    assert reg.train.inputs["input"].shape == (3, 5)  # every other column: a, b, c, label, w
    assert reg.validation.targets["output"].tolist() == [[40.0]] and reg.train.targets["output"].dtype == np.float32
    multi = load_data(
        spec(**base, features={"wide": ["a"], "deep": ["b", "c"]}, targets={"main": "price", "aux": ["price", "c"]}),
        base_dir=tmp_path,
        input_names=["wide", "deep"],
        output_names=["main", "aux"],
    )
    assert multi.train.inputs["wide"].shape == (4, 1) and multi.train.inputs["deep"].shape == (4, 2)
    assert multi.train.targets["aux"].shape == (4, 2)


def test_csv_errors(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    with pytest.raises(DataError) as info:
        load_data(spec(dataset={"type": "csv", "path": str(tmp_path / "t.csv")}, targets="cost"))
    assert "has no column 'cost'" in str(info.value) and "columns: a, b, c, label, price, w" in str(info.value)
    (tmp_path / "e.csv").write_text("a,y\n1,2\n\n,3\n")  # line numbers count blank lines
    with pytest.raises(DataError, match=r"e\.csv line 4: column 'a' is empty"):
        load_data(spec(dataset={"type": "csv", "path": str(tmp_path / "e.csv")}, targets="y"))
    (tmp_path / "r.csv").write_text("a,y\n1,2\n1,2,3\n")
    with pytest.raises(DataError, match=r"r\.csv line 3: 3 fields where the header has 2"):
        load_data(spec(dataset={"type": "csv", "path": str(tmp_path / "r.csv")}, targets="y"))
    (tmp_path / "n.csv").write_text("a,y\n1,2\nabc,3\n")
    with pytest.raises(DataError, match=r"n\.csv line 3: column 'a' holds 'abc', not a number"):
        load_data(spec(dataset={"type": "csv", "path": str(tmp_path / "n.csv")}, targets="y"))


def test_csv_without_header_and_other_delimiter(tmp_path):
    (tmp_path / "h.csv").write_text("1;2;0.5\n3;4;1.5\n")
    data = load_data(spec(dataset={"type": "csv", "path": str(tmp_path / "h.csv"), "delimiter": ";", "header": False}, targets="2"))
    np.testing.assert_array_equal(data.train.inputs["input"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(data.train.targets["output"], [[0.5], [1.5]])


class _FakeResponse:
    def __init__(self, payload: bytes):
        self.payload = payload
        self.headers = {"content-length": str(len(payload))}

    def raise_for_status(self):
        pass

    def iter_content(self, chunk_size):
        for i in range(0, len(self.payload), chunk_size):
            yield self.payload[i : i + chunk_size]


def test_download_through_pooch_checks_sha256(tmp_path, monkeypatch):
    """The real pooch.retrieve and HTTPDownloader run, over a fake HTTP layer."""
    import dataclasses
    import hashlib

    import requests

    mirror = write_fake_standard(tmp_path / "mirror")
    payloads = {p.name: p.read_bytes() for p in mirror.iterdir()}
    seen = {}

    def fake_get(url, timeout, **kwargs):
        seen[url] = timeout
        return _FakeResponse(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(requests, "get", fake_get)
    good = dataclasses.replace(
        MNIST,
        base_url="https://example.invalid/mnist/",
        sha256={role: hashlib.sha256(payloads[f]).hexdigest() for role, f in download_mod.FILE_NAMES.items()},
    )
    files = download_mod.download_dataset(good, tmp_path / "c", progress=True)
    assert {p.name for p in files.values()} == set(payloads)
    assert all(files[r].read_bytes() == payloads[download_mod.FILE_NAMES[r]] for r in files)
    assert set(seen.values()) == {(download_mod.CONNECT_TIMEOUT, download_mod.READ_TIMEOUT)}

    bad = dataclasses.replace(good, sha256={**good.sha256, "test_labels": "0" * 64})
    with pytest.raises(download_mod.DownloadFailed, match="SHA-256 does not match the official checksum"):
        download_mod.download_dataset(bad, tmp_path / "d", progress=False)
    assert not (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").exists()

    def offline_get(url, timeout, **kwargs):
        raise requests.exceptions.ConnectionError("HTTPSConnectionPool: Failed to resolve 'example.invalid'")

    monkeypatch.setattr(requests, "get", offline_get)
    with pytest.raises(download_mod.DownloadFailed) as info:
        download_mod.download_dataset(good, tmp_path / "e", progress=False)
    assert str(info.value) == (
        "https://example.invalid/mnist/t10k-labels-idx1-ubyte.gz: could not resolve the host name (no network?)"
    )


def test_npz_sample_weight_and_mixed_test_arrays(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, x=np.zeros((4, 2)), y=np.arange(4), w=np.array([[1.0], [2.0], [3.0], [4.0]]))
    data = load_data(spec(dataset={"type": "npz", "path": str(path)}, sample_weight="w", validation={"last": 1}))
    assert data.train.sample_weight.dtype == np.float32 and data.train.sample_weight.tolist() == [1, 2, 3]
    assert data.validation.sample_weight.tolist() == [4]
    mixed = tmp_path / "m.npz"
    np.savez(mixed, x_train=np.zeros((4, 2)), x_test=np.zeros((1, 2)), y=np.arange(4))
    with pytest.raises(DataError, match=r"some arrays have separate test arrays \(x_train\) and some do not \(y\)"):
        load_data(spec(dataset={"type": "npz", "path": str(mixed)}))


def test_builtins_have_one_input_and_one_output():
    with pytest.raises(DataError, match=r"the xor data set has one input and one output, but the model has 2 inputs"):
        load_data(spec(dataset="xor"), input_names=["a", "b"])


def test_plugin_dataset_loader_is_renamed_to_the_model_names():
    from typing import Literal

    from dnnc.runner.datasets import RawData, Split
    from dnnc.spec_schema.base import StrictModel

    class Ramp(StrictModel):
        type: Literal["ramp"]

    calls = []

    def load(dataset, *, base_dir, data_dir, download):
        calls.append((dataset.type, download))
        x = np.arange(10, dtype=np.float64).reshape(10, 1)
        return RawData(train=Split({"x": x}, {"y": 2 * x}), test=None, target_kinds={"y": "value"}, meta={"dataset": "ramp"})

    data_spec = DataSpec.model_construct(**{**spec(dataset="xor").__dict__, "dataset": Ramp(type="ramp")})
    data = load_data(data_spec, loaders={"ramp": load}, input_names=["a"], output_names=["b"], download=False)
    assert calls == [("ramp", False)]
    assert data.train.inputs["a"].dtype == np.float32 and data.train.targets["b"][3, 0] == 6.0
    with pytest.raises(DataError, match="no loader is installed for data set type 'ramp'"):
        load_data(data_spec)
