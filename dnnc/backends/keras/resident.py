"""The Keras backend's resident session (:mod:`dnnc.backends.resident`): K steps in one compiled function.

Each bound split is converted once to tensors on the model's device.  A call of
:meth:`KerasSession.train_steps` runs one ``tf.function`` (what Keras's
``steps_per_execution`` does): a ``tf.while_loop`` over the K steps of the
chunk, each one gathering its rows (``tf.gather``), then running exactly the
training step of :mod:`.steps` — the learning rate assigned to the optimizer's
variable, the tape, the losses, ``optimizer.apply`` — and adding its sums to the
float64 accumulators carried through the loop in step order.  The function
returns every step's losses (K × loss keys) and the new sums; its signature has
``None`` for K and for the batch size, so one trace serves every chunk of a run
(the last, partial, batch of an epoch is a chunk of its own).

Evaluation is the same loop in inference mode over the split's batches, without
an update, its sums starting from zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..base import Arrays
from ..resident import MetricPlan, bound_targets


def _spec(tf, value, leading: int = 1):
    """A TensorSpec with `leading` None axes in front of the value's own trailing shape."""
    return tf.TensorSpec((None,) * leading + tuple(value.shape[1:]), value.dtype)


class KerasSession:
    """Resident training of one :class:`~.model.KerasModel` (see the module docstring)."""

    def __init__(self, model, plan: MetricPlan) -> None:
        import tensorflow as tf

        self._tf = tf
        self.model = model
        self.plan = plan
        self._splits: dict[str, dict[str, Any]] = {}
        self._n_losses = len(plan.loss_keys)
        self._loss_targets = [out.name for _, out in model._loss_outputs]
        with model.placement():
            self._values = tf.zeros((plan.size,), tf.float64)

    # -- data ------------------------------------------------------------------
    def bind(self, split: str, inputs: Arrays, targets: Arrays, sample_weight: np.ndarray | None) -> None:
        tf, model = self._tf, self.model
        checks = model._checks
        arrays = checks.inputs(inputs)
        checks.targets(targets)  # the same checks (and messages) as a step's
        names = bound_targets(self.plan, self._loss_targets, targets)
        with model.placement():
            data: dict[str, Any] = {
                "inputs": {name: tf.convert_to_tensor(np.asarray(x, dtype=checks.input_dtypes[name]))
                           for name, x in zip(model._input_names, arrays)},
                "targets": {name: tf.convert_to_tensor(np.asarray(targets[name])) for name in names},
            }
            if sample_weight is not None:
                data["sample_weight"] = tf.convert_to_tensor(np.asarray(sample_weight, dtype=np.float32))
        self._splits[split] = data

    # -- traced pieces -----------------------------------------------------------------
    def _gather(self, data: dict[str, Any], idx) -> dict[str, Any]:
        tf = self._tf
        step = {"inputs": {n: tf.gather(x, idx) for n, x in data["inputs"].items()},
                "targets": {n: tf.gather(t, idx) for n, t in data["targets"].items()}}
        if "sample_weight" in data:
            step["sample_weight"] = tf.gather(data["sample_weight"], idx)
        return step

    def _sums(self, losses, outputs, targets, n):
        """This batch's value sums (plan.size float64): float64(loss)·n per loss key, then the correct counts."""
        tf = self._tf
        parts = [tf.cast(losses[: self._n_losses], tf.float64) * n]
        for metric in self.plan.metrics:
            logits = outputs[metric.output]
            target = targets[metric.output_name]
            if metric.kind == "sparse_categorical_accuracy":
                hit = tf.equal(tf.cast(tf.argmax(logits, axis=-1), tf.float64),
                               tf.cast(tf.reshape(target, [-1]), tf.float64))
            elif metric.kind == "categorical_accuracy":
                hit = tf.equal(tf.argmax(logits, axis=-1), tf.argmax(target, axis=-1))
            else:  # binary accuracy of one value per sample, on the logit in float64
                positive = tf.reshape(tf.cast(logits, tf.float64) > metric.threshold, [-1])
                hit = tf.equal(tf.cast(positive, target.dtype), tf.reshape(target, [-1]))
            parts.append(tf.reshape(tf.reduce_sum(tf.cast(hit, tf.float64)), [1]))
        return tf.concat(parts, axis=0)

    def _train_body(self):
        tf, steps = self._tf, self.model._steps
        optimizer = self.model._get_optimizer()
        trainable = steps.trainable

        def train_chunk(batch):
            data, index, rates, masks = batch["data"], batch["index"], batch["lr"], batch.get("masks")
            count = tf.shape(index)[0]

            def body(k, sums, losses_out):
                idx = index[k]
                step = self._gather(data, idx)
                if masks is not None:
                    step["masks"] = {n: m[k] for n, m in masks.items()}
                optimizer.learning_rate.assign(rates[k])
                with tf.GradientTape() as tape:
                    outputs = steps._outputs(step, True)
                    total, losses = steps._losses(outputs, step)
                optimizer.apply(steps._dense_gradients(tape, total), trainable)
                n = tf.cast(tf.shape(idx)[0], tf.float64)
                sums = sums + self._sums(losses, outputs, step["targets"], n)
                return k + 1, sums, losses_out.write(k, losses[: self._n_losses])

            losses_out = tf.TensorArray(tf.float32, size=count, element_shape=[self._n_losses])
            _, sums, losses_out = tf.while_loop(lambda k, *_: k < count, body,
                                                (tf.constant(0), batch["sums"], losses_out))
            return losses_out.stack(), sums

        return train_chunk

    def _evaluate_body(self):
        tf, steps = self._tf, self.model._steps

        def evaluate_chunk(batch):
            data, index = batch["data"], batch["index"]
            count = tf.shape(index)[0]

            def body(k, sums):
                idx = index[k]
                step = self._gather(data, idx)
                outputs = steps._outputs(step, False)
                _, losses = steps._losses(outputs, step)
                n = tf.cast(tf.shape(idx)[0], tf.float64)
                return k + 1, sums + self._sums(losses, outputs, step["targets"], n)

            _, sums = tf.while_loop(lambda k, *_: k < count, body, (tf.constant(0), batch["sums"]))
            return sums

        return evaluate_chunk

    def _signature(self, batch: dict[str, Any]) -> dict[str, Any]:
        tf = self._tf
        sig: dict[str, Any] = {
            "data": {key: ({k: _spec(tf, v) for k, v in value.items()} if isinstance(value, dict) else _spec(tf, value))
                     for key, value in batch["data"].items()},
            "index": tf.TensorSpec((None, None), tf.int64),
            "sums": tf.TensorSpec((self.plan.size,), tf.float64),
        }
        if "lr" in batch:
            sig["lr"] = tf.TensorSpec((None,), tf.float32)
        if "masks" in batch:
            sig["masks"] = {k: _spec(tf, v[0], 2) for k, v in batch["masks"].items()}  # (K, batch, …)
        return sig

    def _call(self, kind: str, batch: dict[str, Any]):
        data = batch["data"]
        key = ("resident", kind, tuple(sorted(data)), tuple((k, v.dtype.name) for k, v in data["targets"].items()),
               tuple((k, v.dtype.name) for k, v in data["inputs"].items()), tuple(sorted(batch.get("masks", ()))))
        make_body = self._train_body if kind == "train" else self._evaluate_body
        step = self.model._steps.compiled(key, make_body, lambda: self._signature(batch))
        with self.model.placement():
            return step(batch)

    # -- the protocol --------------------------------------------------------------------
    def train_steps(self, split: str, indices: Sequence[np.ndarray], learning_rates: Sequence[float],
                    dropout_masks: Sequence[Mapping[str, np.ndarray]] | None = None) -> np.ndarray:
        batch: dict[str, Any] = {"data": self._splits[split], "index": np.stack(indices).astype(np.int64),
                                 "lr": np.asarray(learning_rates, dtype=np.float32), "sums": self._values}
        if dropout_masks is not None:
            checked = [self.model._checks.dropout_masks(m) for m in dropout_masks]
            if checked[0]:
                batch["masks"] = {name: np.stack([c[name] for c in checked]).astype(np.float32) for name in checked[0]}
        losses, self._values = self._call("train", batch)
        return losses.numpy().astype(np.float64)

    def evaluate(self, split: str, indices: Sequence[np.ndarray]) -> np.ndarray:
        sums = self._tf.zeros((self.plan.size,), self._tf.float64)
        size = indices[0].shape[0] if indices else 0
        full = [i for i in indices if i.shape[0] == size]
        for group in (full, list(indices[len(full):])):  # the batches of one size, then the last partial one
            if group:
                sums = self._call("evaluate", {"data": self._splits[split], "index": np.stack(group).astype(np.int64),
                                               "sums": sums})
        return sums.numpy()

    def metric_values(self) -> np.ndarray:
        return self._values.numpy().copy()

    def set_metric_values(self, values: np.ndarray) -> None:
        with self.model.placement():
            self._values = self._tf.constant(np.asarray(values, dtype=np.float64))
