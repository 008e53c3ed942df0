"""The step executor: the one place the training loop touches the backend's model.

The loop hands a :class:`Batch` (rows already gathered, learning rate already
scheduled, dropout masks already drawn) to ``executor.train_step`` /
``executor.evaluate_step`` and gets a :class:`~dnnc.backends.base.StepResult`
back.  :class:`LocalExecutor` calls the model directly.

Data-parallel training plugs in here and in the batch source, nothing else
changes:

* **torch DDP**: one process per device; the runner gives each rank a
  ``BatchSource`` yielding its slice of every *global* batch
  (``global_indices[rank::world_size]``, so the global batch is unchanged);
  a ``DDPExecutor`` wraps the backend's module in
  ``DistributedDataParallel`` (gradients all-reduced, averaged) and scales the
  per-rank loss so that the update equals the single-process one (the loss is
  Σ w·l / N_global); dropout masks are drawn for the global batch and sliced
  the same way.  Metrics: each rank accumulates its
  :class:`~dnnc.runner.metrics.MetricSet` and the runner all-reduces
  ``MetricSet.state()`` (plain sums) before ``result()`` — exactly the
  single-process value.
* **tf.distribute**: a ``StrategyExecutor`` runs the backend's compiled step
  under ``strategy.run`` on per-replica slices of the same global batch and
  reduces with ``ReduceOp.SUM``; the same metric all-reduce applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol

import numpy as np

from ..backends.base import CompiledModel, StepResult


@dataclass(frozen=True)
class Batch:
    """One batch: its row indices and the gathered arrays."""

    indices: np.ndarray
    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    sample_weight: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])


class StepExecutor(Protocol):
    def prepare(self) -> None:
        """Build what training needs (the optimizer…) before the first epoch, outside the timed epochs."""

    def train_step(self, batch: Batch, *, learning_rate: float, dropout_masks: Mapping[str, np.ndarray] | None) -> StepResult:
        """One optimizer step on ``batch``; losses and logits of the training-mode pass before the update."""

    def evaluate_step(self, batch: Batch) -> StepResult:
        """Inference-mode losses and logits of ``batch``."""


class LocalExecutor:
    """Runs every step in this process on the backend's model."""

    def __init__(self, model: CompiledModel) -> None:
        self.model = model

    def prepare(self) -> None:
        prepare = getattr(self.model, "prepare_training", None)  # optional in the backend protocol
        if prepare is not None:
            prepare()

    def train_step(self, batch: Batch, *, learning_rate: float, dropout_masks=None) -> StepResult:
        return self.model.train_step(
            batch.inputs, batch.targets, learning_rate=learning_rate,
            sample_weight=batch.sample_weight, dropout_masks=dropout_masks,
        )

    def evaluate_step(self, batch: Batch) -> StepResult:
        return self.model.evaluate_step(batch.inputs, batch.targets, sample_weight=batch.sample_weight)
