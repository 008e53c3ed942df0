"""Batch order: which rows form each batch, independent of the backend.

The training rows of epoch ``e`` (0-based) are visited in the order

    numpy.random.Generator(numpy.random.Philox(key=[seed, e])).permutation(n)

i.e. a Philox-4x64 generator whose 128-bit key has ``seed`` in its low 64-bit
word and the epoch index in its high word, counter 0, and one call to
``Generator.permutation(n)``.  Batch ``b`` of the epoch is
``order[b·batch_size : (b + 1)·batch_size]``: ``ceil(n / batch_size)`` batches,
the last partial batch kept (as Keras does).  Validation and test rows are
never shuffled: batches of ``validation_batch_size`` in row order.

The data-preparation streams of :mod:`dnnc.runner.datasets.rng` use
``key = [seed, 0xDA7A_xxxx]`` and the strict-parity dropout masks
(:mod:`dnnc.runner.dropout`) ``key = [seed, 2**63 | hash(node)]``; an epoch index
never reaches either, so the streams never coincide.

A :class:`BatchSource` is the seam for data-parallel training: it yields the
index arrays of the *global* batches; a distributed runner gives each rank its
share of every global batch (see :mod:`dnnc.runner.loop`).
"""

from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the ``n`` training rows in epoch ``epoch`` (0-based) for ``seed``."""
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"the seed must be an integer in [0, 2**64) (received {seed!r})")
    generator = np.random.Generator(np.random.Philox(key=[int(seed), int(epoch)]))
    return generator.permutation(int(n))


class BatchSource(Protocol):
    """Yields, for each epoch, the row-index arrays of its batches."""

    def steps(self) -> int:
        """Batches per epoch."""

    def batches(self, epoch: int) -> Iterator[np.ndarray]:
        """The index arrays (int64) of epoch ``epoch``'s batches, in order."""


class ShuffledBatches:
    """Training batches: a fresh Philox permutation per epoch, last partial batch kept."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0 (received {batch_size})")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)

    def steps(self) -> int:
        return -(-self.n // self.batch_size)

    def batches(self, epoch: int) -> Iterator[np.ndarray]:
        order = epoch_permutation(self.n, self.seed, epoch)
        for start in range(0, self.n, self.batch_size):
            yield order[start : start + self.batch_size]


class SequentialBatches:
    """Evaluation batches: rows in order, last partial batch kept (the same every epoch)."""

    def __init__(self, n: int, batch_size: int) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0 (received {batch_size})")
        self.n, self.batch_size = int(n), int(batch_size)

    def steps(self) -> int:
        return -(-self.n // self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[np.ndarray]:
        for start in range(0, self.n, self.batch_size):
            yield np.arange(start, min(start + self.batch_size, self.n), dtype=np.int64)
