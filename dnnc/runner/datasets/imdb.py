"""IMDB movie reviews (Maas et al. 2011) as word-index sequences: Keras's ``imdb.npz``, found or downloaded.

The file is the one ``keras.datasets.imdb.load_data`` downloads
(storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz), SHA-256 as
Keras's source records it (``keras/src/datasets/imdb.py``), searched for like
MNIST (:func:`dnnc.runner.datasets.housing.find_source_file`).  It holds
``x_train``, ``x_test``: object arrays of 25,000 reviews each, every review a
list of word ranks (1 = the most frequent word), and ``y_train``, ``y_test``:
0 (negative) / 1 (positive).  Object arrays are pickled; they are read with an
unpickler that only rebuilds NumPy arrays (as Keras does), never arbitrary
objects.

The rows are Keras's: each part shuffled with ``RandomState(113)`` (training
rows first, then the test rows, from the same generator), ids ``start_char = 1``
then ``rank + index_from`` (3); every id ≥ ``num_words`` becomes ``oov_char = 2``;
0 is padding.  Then dnnc's own length rule (Keras's ``pad_sequences`` defaults):
a review longer than ``maxlen`` keeps its last ``maxlen`` ids, a shorter one is
padded with zeros in front.  Features: int64 (n, maxlen) for a token input;
targets: class labels 0/1.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .containers import RawData, Split
from .errors import DataError
from .housing import find_source_file


@dataclass(frozen=True)
class ImdbSource:
    """Where IMDB comes from and how it is recognised."""

    name: str = "imdb"
    title: str = "IMDB reviews"
    dir_name: str = "imdb"
    dir_aliases: tuple[str, ...] = ("imdb",)
    archive: str = "imdb.npz"
    url: str = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
    sha256: str = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
    """SHA-256 of ``imdb.npz`` as recorded by Keras (``keras.datasets.imdb.load_data``'s file_hash)."""


IMDB = ImdbSource()

SHUFFLE_SEED, START_CHAR, OOV_CHAR, INDEX_FROM = 113, 1, 2, 3
"""Keras's defaults: the shuffle seed, the start id, the out-of-vocabulary id, the offset of word ranks."""

_ARRAY_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                            ("numpy._core.multiarray", "_reconstruct")})


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: the file may be corrupted or malicious")


def read_npz(file: Path) -> tuple[dict[str, np.ndarray], str]:
    """The arrays of an ``.npz`` whose object arrays hold only NumPy values and lists, and the file's SHA-256."""
    raw = file.read_bytes()
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                data = io.BytesIO(archive.read(member))
                try:
                    arrays[member[:-4]] = np.lib.format.read_array(data, allow_pickle=False)
                except ValueError:  # an object array: a pickle stream after the header
                    data.seek(0)
                    major, _ = np.lib.format.read_magic(data)
                    (np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0)(data)
                    arrays[member[:-4]] = _ArraysOnly(data).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"{file}: not a readable IMDB .npz file ({exc})") from None
    return arrays, hashlib.sha256(raw).hexdigest()


def sequences(reviews: np.ndarray, num_words: int, maxlen: int) -> np.ndarray:
    """int64 (n, maxlen): start id, ranks + 3 (≥ num_words → 2), the last maxlen ids, zeros in front."""
    out = np.zeros((len(reviews), maxlen), dtype=np.int64)
    for row, review in enumerate(reviews):
        ids = np.concatenate([[START_CHAR], np.asarray(review, dtype=np.int64) + INDEX_FROM])
        ids[ids >= num_words] = OOV_CHAR
        ids = ids[-maxlen:]
        out[row, maxlen - len(ids):] = ids
    return out


def load_imdb(*, num_words: int, maxlen: int, path=None, base_dir=None, data_dir=None, download: bool = True,
              input_name: str = "input", output_name: str = "output", source: ImdbSource = IMDB) -> RawData:
    """25,000 training and 25,000 test reviews as int64 (n, maxlen) ids and int64 0/1 labels (module docstring)."""
    file, found_in = find_source_file(source, (source.archive,), f"{source.archive} (Keras's file, SHA-256 "
                                      f"{source.sha256}).", path=path, data_dir=data_dir, base_dir=base_dir,
                                      download=download)
    arrays, digest = read_npz(file)
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DataError(f"{file}: no {', '.join(missing)} (found {', '.join(sorted(arrays)) or 'no arrays'})")
    rng = np.random.RandomState(SHUFFLE_SEED)
    parts = {}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], np.asarray(arrays[f"y_{part}"])
        if len(x) != len(y) or y.ndim != 1:
            raise DataError(f"{file}: x_{part} holds {len(x)} reviews but y_{part} has shape {y.shape}")
        order = np.arange(len(x))
        rng.shuffle(order)
        labels = y[order].astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() > 1):
            raise DataError(f"{file}: y_{part} must hold 0/1 labels, found {labels.min()}–{labels.max()}")
        parts[part] = Split(inputs={input_name: sequences(x[order], num_words, maxlen)},
                            targets={output_name: labels})
    return RawData(
        train=parts["train"], test=parts["test"], target_kinds={output_name: "class"}, num_classes={output_name: 2},
        meta={"dataset": source.name, "found_in": found_in, "num_words": num_words, "maxlen": maxlen,
              "files": [{"role": "archive", "path": str(file), "sha256": digest, "official": digest == source.sha256}],
              "warnings": [] if digest == source.sha256 else [
                  f"{file} is not Keras's imdb.npz (SHA-256 {digest}, the official file's is {source.sha256}); "
                  "results are not comparable with published ones"]},
    )


__all__ = ["IMDB", "ImdbSource", "load_imdb", "read_npz", "sequences"]
