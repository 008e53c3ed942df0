"""Metrics computed by dnnc, in NumPy, from the logits a step returns.

Aggregation follows Keras exactly:

* every metric is a running *sum over samples* divided by the number of
  samples seen this epoch (Σ per-sample value / Σ samples), never the mean of
  batch means (an epoch's accuracy is total correct / total seen);
* the loss (and each ``<output>_loss``) is the mean of the batch losses weighted
  by the batch sizes (Keras's loss tracker);
* metrics listed in ``training.metrics`` are *not* weighted by sample or class
  weights (Keras weights only its separate ``weighted_metrics``); the losses
  are, because the backend's loss already includes the sample weights;
* the training metrics of an epoch come from the training-mode forward pass of
  each batch before its update (what :class:`~dnnc.backends.base.StepResult`
  returns); validation and test metrics from inference-mode passes.

Heads: an output whose ``head`` is softmax/sigmoid emits logits; dnnc applies
the head where a metric needs probabilities (mse/mae/rmse of a classifier).
Threshold metrics of a sigmoid output are computed on the logits: p > t ⟺
z > log(t / (1 − t)), which for t = 0.5 is z > 0 — exact, unlike sigmoid(z) in
float32, which rounds to 0.5 for 0 < z ≲ 1e-7.  Argmax metrics use the logits
(softmax is monotonic); ties go to the first index, as in TF, torch and NumPy.

All accumulators keep float64 sums (:meth:`Accumulator.state`), which is also
what a data-parallel runner all-reduces.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..compiler.ir import ModelIR, OutputIR
from ..numerics.heads import apply_head


def logit_threshold(threshold: float) -> float:
    """The logit z with sigmoid(z) = threshold."""
    return math.log(threshold) - math.log1p(-threshold)


# --------------------------------------------------------------------------
# accumulators
# --------------------------------------------------------------------------


class Accumulator:
    """One metric of one output: ``update`` with a batch, ``result`` for the epoch so far."""

    direction = "up"  # "up": larger is better (mode auto of monitors); "down": smaller is better

    def __init__(self, output: OutputIR, config: Mapping[str, Any]) -> None:
        self.output = output
        self.config = dict(config)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros(2, dtype=np.float64)  # Σ value, Σ samples

    def state(self) -> np.ndarray:
        """The float64 sums this metric is made of (all-reducible)."""
        return self._state.copy()

    def load_state(self, state: np.ndarray) -> None:
        self._state = np.asarray(state, dtype=np.float64).copy()

    def update(self, logits: np.ndarray, target: np.ndarray) -> None:
        values = self.per_sample(np.asarray(logits), np.asarray(target))
        self._state[0] += float(np.sum(values, dtype=np.float64))
        self._state[1] += values.shape[0]

    def per_sample(self, logits: np.ndarray, target: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self) -> float:
        total, count = self._state
        return float(total / count) if count else 0.0


def _class_index(output: OutputIR, target: np.ndarray) -> np.ndarray:
    """Integer class of each sample from sparse labels or one-hot rows."""
    if output.target == "sparse" or target.ndim == 1 or (target.ndim == 2 and target.shape[1] == 1 and output.shape[-1] > 1):
        return target.reshape(target.shape[0]).astype(np.int64)
    return np.argmax(target, axis=-1)


def _dense_target(output: OutputIR, target: np.ndarray) -> np.ndarray:
    """Targets in the output's shape (sparse labels one-hot encoded), float64."""
    if output.target == "sparse":
        k = output.shape[-1]
        return np.eye(k, dtype=np.float64)[target.reshape(target.shape[0]).astype(np.int64)]
    return np.asarray(target, dtype=np.float64).reshape((target.shape[0], *output.shape))


def _sample_mean(values: np.ndarray) -> np.ndarray:
    """Mean over every axis but the batch axis (Keras reduces extra axes by mean)."""
    return values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values


class SparseCategoricalAccuracy(Accumulator):
    def per_sample(self, logits, target):
        return (np.argmax(logits, axis=-1) == target.reshape(target.shape[0])).astype(np.float64)


class CategoricalAccuracy(Accumulator):
    def per_sample(self, logits, target):
        return (np.argmax(logits, axis=-1) == np.argmax(target, axis=-1)).astype(np.float64)


def _positive(output: OutputIR, logits: np.ndarray, threshold: float) -> np.ndarray:
    """prediction > threshold, strictly, computed on the logits of a sigmoid head."""
    if output.head == "sigmoid":
        return np.asarray(logits, dtype=np.float64) > logit_threshold(threshold)
    return apply_head(output.head, logits) > threshold


class BinaryAccuracy(Accumulator):
    def per_sample(self, logits, target):
        predicted = _positive(self.output, logits, float(self.config.get("threshold", 0.5)))
        truth = np.asarray(target).reshape(predicted.shape)
        return _sample_mean((predicted.astype(truth.dtype) == truth).astype(np.float64))


class TopKAccuracy(Accumulator):
    def per_sample(self, logits, target):
        k = int(self.config.get("k", 5))
        scores = np.asarray(logits, dtype=np.float64)
        index = _class_index(self.output, np.asarray(target))
        own = np.take_along_axis(scores, index[:, None], axis=-1)
        # In the top k when fewer than k classes score strictly higher (ties straddling the boundary count, as in TF).
        return (np.sum(scores > own, axis=-1) < k).astype(np.float64)


class MeanSquaredError(Accumulator):
    direction = "down"

    def per_sample(self, logits, target):
        error = apply_head(self.output.head, logits) - _dense_target(self.output, target)
        return _sample_mean(error * error)


class MeanAbsoluteError(Accumulator):
    direction = "down"

    def per_sample(self, logits, target):
        return _sample_mean(np.abs(apply_head(self.output.head, logits) - _dense_target(self.output, target)))


class RootMeanSquaredError(MeanSquaredError):
    """sqrt(Σ per-sample squared error / Σ samples) over the epoch."""

    def result(self) -> float:
        return math.sqrt(super().result())


class _Confusion(Accumulator):
    """Counts over every element of the output (Keras flattens y_true / y_pred)."""

    def reset(self) -> None:
        self._state = np.zeros(3, dtype=np.float64)  # true positives, false positives, false negatives

    def update(self, logits, target):
        predicted = _positive(self.output, logits, float(self.config.get("threshold", 0.5)))
        truth = np.asarray(target).reshape(predicted.shape).astype(bool)
        self._state[0] += np.count_nonzero(predicted & truth)
        self._state[1] += np.count_nonzero(predicted & ~truth)
        self._state[2] += np.count_nonzero(~predicted & truth)


class Precision(_Confusion):
    def result(self) -> float:
        tp, fp, _ = self._state
        return float(tp / (tp + fp)) if tp + fp else 0.0


class Recall(_Confusion):
    def result(self) -> float:
        tp, _, fn = self._state
        return float(tp / (tp + fn)) if tp + fn else 0.0


METRIC_TYPES: dict[str, type[Accumulator]] = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "top_k_accuracy": TopKAccuracy,
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "precision": Precision,
    "recall": Recall,
}
"""IR metric type → accumulator class (``accuracy`` is resolved by the compiler)."""


class LossMean:
    """Mean of batch losses weighted by batch size (Keras's loss tracker)."""

    direction = "down"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros(2, dtype=np.float64)

    def state(self) -> np.ndarray:
        return self._state.copy()

    def load_state(self, state: np.ndarray) -> None:
        self._state = np.asarray(state, dtype=np.float64).copy()

    def update(self, value: float, n: int) -> None:
        self._state[0] += float(value) * n
        self._state[1] += n

    def result(self) -> float:
        total, count = self._state
        return float(total / count) if count else 0.0


# --------------------------------------------------------------------------
# the set of a model's metrics
# --------------------------------------------------------------------------


def loss_keys(ir: ModelIR) -> list[str]:
    """``loss`` and, with several outputs, ``<output>_loss`` for each."""
    outputs = [o for o in ir.outputs if o.loss is not None]
    return ["loss"] + ([f"{o.name}_loss" for o in outputs] if len(ir.outputs) > 1 else [])


def metric_key(ir: ModelIR, output: OutputIR, metric: Mapping[str, Any]) -> str:
    name = metric.get("name") or metric["type"]
    return f"{output.name}_{name}" if len(ir.outputs) > 1 else name


def metric_directions(ir: ModelIR) -> dict[str, str]:
    """Unprefixed history key → "up" (larger is better) or "down", for every loss and metric."""
    directions = {key: "down" for key in loss_keys(ir)}
    for output in ir.outputs:
        for metric in output.metrics:
            cls = METRIC_TYPES.get(metric["type"])
            if cls is not None:
                directions[metric_key(ir, output, metric)] = cls.direction
    return directions


class MetricSet:
    """Every loss and metric of a model for one split, reset each epoch."""

    def __init__(self, ir: ModelIR) -> None:
        self.ir = ir
        self.losses = {key: LossMean() for key in loss_keys(ir)}
        self.metrics: list[tuple[str, str, Accumulator]] = []  # (key, output name, accumulator)
        for output in ir.outputs:
            for metric in output.metrics:
                cls = METRIC_TYPES.get(metric["type"])
                if cls is None:
                    raise ValueError(
                        f"no runner implementation of metric type {metric['type']!r} (output {output.name!r}); "
                        f"known: {', '.join(sorted(METRIC_TYPES))}"
                    )
                self.metrics.append((metric_key(ir, output, metric), output.name, cls(output, metric)))

    def keys(self) -> list[str]:
        return list(self.losses) + [key for key, _, _ in self.metrics]

    def reset(self) -> None:
        for tracker in self.losses.values():
            tracker.reset()
        for _, _, acc in self.metrics:
            acc.reset()

    def update(self, losses: Mapping[str, float], outputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], n: int) -> None:
        """Add one batch of ``n`` samples: the step's losses, its logits and the batch targets."""
        for key, tracker in self.losses.items():
            tracker.update(losses[key], n)
        for _, name, acc in self.metrics:
            acc.update(outputs[name], targets[name])

    def result(self, prefix: str = "") -> dict[str, float]:
        out = {prefix + key: tracker.result() for key, tracker in self.losses.items()}
        out.update({prefix + key: acc.result() for key, _, acc in self.metrics})
        return out

    def state(self) -> np.ndarray:
        """Every sum, concatenated (a data-parallel runner all-reduces this vector)."""
        parts = [t.state() for t in self.losses.values()] + [a.state() for _, _, a in self.metrics]
        return np.concatenate(parts) if parts else np.zeros(0)

    def load_state(self, state: np.ndarray) -> None:
        offset = 0
        for tracker in [*self.losses.values(), *(a for _, _, a in self.metrics)]:
            size = tracker.state().size
            tracker.load_state(state[offset : offset + size])
            offset += size
