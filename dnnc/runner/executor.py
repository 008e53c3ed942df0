"""The step executor: the one place the training loop touches the backend's model.

The loop hands a :class:`Batch` (rows already gathered, learning rate already
scheduled, dropout masks already drawn) to ``executor.train_step`` /
``executor.evaluate_step`` and gets a :class:`~dnnc.backends.base.StepResult`
back.  Everything else (batch order, learning rates, metrics, callbacks) stays
in the loop, so the executor is a seam: another way of running the steps
replaces it without changing the loop.

An executor (the :class:`StepExecutor` protocol) must provide

* ``prepare()`` (optional): build what training needs (e.g. the optimizer)
  before the first epoch;
* ``train_step(batch, learning_rate=…, dropout_masks=…)``: one optimizer step on
  the whole batch with exactly that learning rate (and those keep masks, when
  given), returning the :class:`~dnnc.backends.base.StepResult` of the whole
  batch (losses; logits of the training-mode pass before the update);
* ``evaluate_step(batch)``: the inference-mode ``StepResult`` of the whole
  batch, changing nothing.

The loop computes its metrics from these results alone, so they are the same
whatever runs the steps.  :class:`LocalExecutor`, which calls the model in this
process, is the only executor dnnc has.  When no executor is given and the
backend supports it, the loop bypasses this seam for resident training
(:mod:`dnnc.runner.resident`: the data in the backend, several steps per call,
the metrics summed by the backend), with the same numbers.
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
    """What the loop needs of whatever runs its steps (see the module docstring)."""

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
