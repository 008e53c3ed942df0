"""Training with the data resident in the backend: the optional fast path of a backend's model.

By default the runner gathers every batch in NumPy, hands it to
``model.train_step`` and computes the metrics from the logits the step returns
(two host round trips per step).  A backend whose model also offers
``resident_session(plan)`` lets the runner work differently, with the very same
numbers:

* each split's arrays go to the backend once (:meth:`ResidentSession.bind`);
* a step receives only the row indices of its batch; the backend gathers the
  rows itself;
* the training metrics are accumulated inside the backend and read back when the
  runner asks (:meth:`ResidentSession.metric_state`: at the progress bar's
  refresh rate, at checkpoints, at the end of the epoch), not every step;
* :meth:`ResidentSession.train_steps` runs several steps per call (``training.
  steps_per_execution``); a backend may run them in one compiled function (Keras)
  or in a loop (torch) and returns every step's losses at once, so callbacks that
  only observe the batches still see each batch's logs.

What a backend must accumulate is a :class:`MetricPlan`, built by the runner from
the IR.  It covers only metrics whose sums are *exact* whatever the order and the
framework: the losses (Σ float64(loss)·n, added in step order, as Keras's loss
tracker and :class:`dnnc.runner.metrics.LossMean` do) and correct-prediction
counts (argmax accuracies; the binary accuracy of an output with one value per
sample, thresholded on the logit in float64).  For any other metric
:meth:`MetricPlan.from_ir` returns None and the runner keeps the NumPy path.

Accumulator layout (:meth:`MetricPlan.state`): the layout of
:meth:`dnnc.runner.metrics.MetricSet.state`, ``[Σ value, Σ samples]`` per loss key
and per metric.  The backend keeps only the value sums (``plan.size`` float64s,
losses first, then metrics); the sample counts are known to the runner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..compiler.ir import ModelIR
from .base import Arrays, loss_keys

ACCURACY_KINDS = ("sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")
"""Metric types a backend accumulates itself (any other keeps the runner's NumPy metrics)."""


@dataclass(frozen=True)
class PlannedMetric:
    """One accumulated count: ``kind`` of the logits of ``ir.outputs[output]``.

    ``threshold`` (binary accuracy only): a sample counts as positive when its logit, in float64, is strictly
    greater than it (the logit of the probability threshold for a sigmoid head, the threshold itself for a
    linear one)."""

    kind: str
    output: int
    output_name: str
    threshold: float = 0.0


@dataclass(frozen=True)
class MetricPlan:
    """What a resident session accumulates: every loss key, then ``metrics``, one float64 value sum each."""

    loss_keys: tuple[str, ...]
    metrics: tuple[PlannedMetric, ...]

    @property
    def size(self) -> int:
        return len(self.loss_keys) + len(self.metrics)

    @classmethod
    def from_ir(cls, ir: ModelIR) -> MetricPlan | None:
        """The plan of `ir`'s metrics, or None when one of them is not an exact count (see the module docstring)."""
        metrics = []
        for index, output in enumerate(ir.outputs):
            for metric in output.metrics:
                kind = metric["type"]
                if kind not in ACCURACY_KINDS:
                    return None
                threshold = 0.0
                if kind == "binary_accuracy":
                    if math.prod(output.shape) != 1 or output.head not in ("sigmoid", "linear"):
                        return None  # a mean over several values per sample is not an exact count
                    t = float(metric.get("threshold", 0.5))
                    if output.head == "sigmoid":
                        if not 0.0 < t < 1.0:
                            return None
                        threshold = math.log(t) - math.log1p(-t)
                    else:
                        threshold = t
                metrics.append(PlannedMetric(kind, index, output.name, threshold))
        keys = loss_keys(ir)
        return cls(tuple(keys), tuple(metrics))

    def state(self, values: Sequence[float], samples: int) -> np.ndarray:
        """The :class:`~dnnc.runner.metrics.MetricSet` state of the value sums `values` over `samples` samples."""
        out = np.empty(2 * self.size, dtype=np.float64)
        out[0::2] = np.asarray(values, dtype=np.float64)
        out[1::2] = float(samples)
        return out

    @staticmethod
    def values(state: np.ndarray) -> np.ndarray:
        """The value sums of a :class:`~dnnc.runner.metrics.MetricSet` state (the inverse of :meth:`state`)."""
        return np.asarray(state, dtype=np.float64)[0::2].copy()


def bound_targets(plan: MetricPlan, loss_outputs: Sequence[str], targets: Arrays) -> list[str]:
    """The outputs whose targets a session keeps (those with a loss, then those with a planned metric), in that
    order; ValueError naming the missing ones."""
    names = list(dict.fromkeys([*loss_outputs, *(m.output_name for m in plan.metrics)]))
    missing = sorted(set(names) - set(targets))
    if missing:
        raise ValueError(f"targets must be given for {missing} (received {sorted(targets)})")
    return names


class ResidentSession(Protocol):
    """The backend's side of resident training (see the module docstring)."""

    def bind(self, split: str, inputs: Arrays, targets: Arrays, sample_weight: np.ndarray | None) -> None:
        """Keep the arrays of `split` ("train", "validation", "test") in the backend, replacing earlier ones."""

    def train_steps(self, split: str, indices: Sequence[np.ndarray], learning_rates: Sequence[float],
                    dropout_masks: Sequence[Mapping[str, np.ndarray]] | None = None) -> np.ndarray:
        """``len(indices)`` optimizer steps, step k on the rows ``indices[k]`` of `split` with learning rate
        ``learning_rates[k]`` (and keep masks ``dropout_masks[k]``), each exactly as ``train_step`` would run it;
        adds each step's sums to the training accumulators; returns each step's losses, (K, len(loss_keys))."""

    def evaluate(self, split: str, indices: Sequence[np.ndarray]) -> np.ndarray:
        """Inference-mode value sums (``plan.size``) over the batches ``indices`` of `split`, in order, from zero;
        the training accumulators are left alone."""

    def metric_values(self) -> np.ndarray:
        """The training accumulators' value sums (``plan.size`` float64s): one read back from the backend."""

    def set_metric_values(self, values: np.ndarray) -> None:
        """Set the training accumulators (zeros at the start of an epoch; a checkpoint's sums on resuming)."""


__all__ = ["ACCURACY_KINDS", "MetricPlan", "PlannedMetric", "ResidentSession", "bound_targets"]
