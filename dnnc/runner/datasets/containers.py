"""The arrays handed to the runner: one :class:`Split` per part of the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    """The rows of one part of the data (training, validation or test).

    ``inputs`` maps each model input name to its features (float32, shape
    ``(n, *feature_shape)``); ``targets`` maps each model output name to its
    targets (class labels int64 ``(n,)``, one-hot or regression values float32
    ``(n, k)``); ``sample_weight`` is float32 ``(n,)`` or None.
    """

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    sample_weight: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        for arrays in (self.inputs, self.targets):
            for array in arrays.values():
                return int(array.shape[0])
        return 0 if self.sample_weight is None else int(self.sample_weight.shape[0])

    def take(self, index: np.ndarray | slice) -> "Split":
        """The rows selected by ``index`` (a slice or an integer index array)."""
        return Split(
            inputs={k: v[index] for k, v in self.inputs.items()},
            targets={k: v[index] for k, v in self.targets.items()},
            sample_weight=None if self.sample_weight is None else self.sample_weight[index],
        )


@dataclass(frozen=True)
class Datasets:
    """Everything :func:`load_data` produces.

    ``meta`` holds plain, JSON-serialisable facts: ``dataset`` (name),
    ``files`` (list of ``{"role", "path", "sha256", "official"}``), ``found_in``
    (where the files were found), ``num_classes`` (output name → classes, class
    targets only), ``feature_shapes`` / ``target_shapes`` (name → per-sample
    shape), ``rows`` (split → row count), ``validation`` / ``test`` (how the rows
    were chosen) and ``standardize`` (input name → ``{"mean", "std"}`` nested
    lists) when standardisation was applied.
    """

    train: Split
    validation: Split | None = None
    test: Split | None = None
    meta: dict[str, Any] = field(default_factory=dict)


TargetKind = str
"""``"class"`` (integer class labels), ``"binary"`` (0/1 labels of one sigmoid unit) or ``"value"`` (regression)."""


@dataclass(frozen=True)
class RawData:
    """What a loader hands to :func:`prepare`: arrays as read, before any preprocessing.

    ``train`` holds every row that is not a separate test row; ``test`` the
    file's or data set's own test rows, if any.  ``target_kinds`` says how each
    output's targets are to be treated; ``num_classes`` holds the class counts a
    data set defines (built-ins).  ``meta`` is merged into
    :attr:`Datasets.meta`.
    """

    train: Split
    test: Split | None
    target_kinds: dict[str, TargetKind]
    num_classes: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
