"""A tiny IMDB file in the real format of Keras's imdb.npz: object arrays (pickled) of reviews, each a list of
word ranks, and 0/1 labels, under the names x_train, y_train, x_test, y_test."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_imdb_fixture(directory: Path, *, train: int = 40, test: int = 20, seed: int = 0) -> Path:
    """`directory`/imdb/imdb.npz with reviews of 3 to 30 ranks in 1 … 60; positive reviews use more low ranks."""
    rng = np.random.default_rng(seed)

    def part(n: int):
        labels = rng.integers(0, 2, n)
        reviews = np.empty(n, dtype=object)
        for i, label in enumerate(labels):
            length = int(rng.integers(3, 31))
            ranks = rng.integers(1, 30, length) if label else rng.integers(20, 61, length)
            reviews[i] = [int(r) for r in ranks]
        return reviews, labels.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = part(train), part(test)
    path = Path(directory) / "imdb" / "imdb.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
