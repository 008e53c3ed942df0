"""Random generators for data preparation, independent of the training streams."""

from __future__ import annotations

import numpy as np

from .errors import DataError

# Each use of randomness in data preparation gets its own Philox stream: the
# key is (stream << 64) | seed, so it never coincides with a training stream
# keyed by a small integer such as seed + epoch.
STREAM_VALIDATION = 0xDA7A_0001
STREAM_XOR_NOISE = 0xDA7A_0002
STREAM_GAUSSIAN = 0xDA7A_0003


def data_generator(seed: int, stream: int) -> np.random.Generator:
    """A numpy Generator(Philox) keyed by ``seed`` in the given data stream."""
    if not 0 <= int(seed) < 2**64:
        raise DataError(f"the seed must be an integer in [0, 2**64) (received {seed!r})")
    return np.random.Generator(np.random.Philox(key=(int(stream) << 64) | int(seed)))
