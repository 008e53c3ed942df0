"""The compiled step functions of a Keras model (``tf.function``; XLA only when asked, see :mod:`.runtime`).

Every function takes one ``batch`` dict of tensors::

    {"inputs": {name: (N, …) float32}, "targets": {output: (N, …)},
     "sample_weight": (N,) float32,            # optional
     "masks": {dropout node: (N, …) float32},  # optional: the strict-parity path
     "lr": () float32}                         # train only

and is traced once per batch *structure* (which optional parts are present,
target dtypes) with a ``None`` batch axis in its input signature, so the last
partial batch of an epoch does not retrace (with XLA on, XLA still compiles
each distinct batch size once).  Without masks the functional ``keras.Model`` runs; with masks the
direct executor (:meth:`.graph.KerasGraph.run`) runs the same layers.

The training step: the learning rate given by the runner is assigned to the
optimizer's learning-rate variable inside the function (no Python-side
update); the loss is Σ loss_weight·loss (helper :func:`.losses.keras_loss`,
with each output's head) + Σ l1·Σ|w| + l2·Σw² over regularised parameters;
``GradientTape`` gradients go to the stock optimizer's ``apply``.  It returns
the losses stacked in one vector ``[total, per-output…]`` and the logits of the
training-mode pass that produced them (before the update).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...compiler.ir import OutputIR
from .graph import KerasGraph
from .losses import keras_loss


def _spec(tf, value: np.ndarray):
    return tf.TensorSpec((None,) + tuple(value.shape[1:]), tf.as_dtype(value.dtype))


def batch_signature(tf, batch: dict[str, Any]):
    """The input signature of a batch dict: a None batch axis everywhere, a scalar learning rate."""
    sig = {}
    for key, value in batch.items():
        if key == "lr":
            sig[key] = tf.TensorSpec((), tf.float32)
        elif isinstance(value, dict):
            sig[key] = {k: _spec(tf, v) for k, v in value.items()}
        else:
            sig[key] = _spec(tf, value)
    return sig


def structure_key(kind: str, training: bool, batch: dict[str, Any]) -> tuple:
    """What decides whether a compiled function can be reused for this batch."""
    parts = [kind, training]
    for key, value in batch.items():
        if isinstance(value, dict):
            parts.append((key, tuple((k, v.dtype.char, v.ndim) for k, v in value.items())))
        elif key != "lr":
            parts.append((key, value.dtype.char, value.ndim))
    return tuple(parts)


class StepFunctions:
    """Builds and caches the compiled functions of one model."""

    def __init__(self, graph: KerasGraph, loss_outputs: Sequence[tuple[int, OutputIR]],
                 trainable: Sequence[Any], penalties: Sequence[tuple[Any, float, float]],
                 jit_compile: bool, optimizer_factory: Callable[[], Any]) -> None:
        import tensorflow as tf

        self._tf = tf
        self.graph = graph
        self.loss_outputs = list(loss_outputs)
        self.trainable = list(trainable)
        self.penalties = list(penalties)
        self.jit_compile = jit_compile
        self._optimizer_factory = optimizer_factory
        self._functions: dict[tuple, Any] = {}

    # -- graph pieces (traced) ----------------------------------------------------
    def _outputs(self, batch, training: bool):
        masks = batch.get("masks")
        if masks is not None:
            return self.graph.run(batch["inputs"], training, masks)
        return self.graph.call_model(batch["inputs"], training)

    def _penalty(self):
        tf = self._tf
        total = None
        for var, l1, l2 in self.penalties:
            term = None
            if l1:
                term = l1 * tf.reduce_sum(tf.abs(var))
            if l2:
                sq = l2 * tf.reduce_sum(tf.square(var))
                term = sq if term is None else term + sq
            total = term if total is None else total + term
        return total

    def _losses(self, outputs, batch):
        """(total, stacked [total, per-output losses…])."""
        tf = self._tf
        sample_weight = batch.get("sample_weight")
        total = None
        per_output = []
        for index, out in self.loss_outputs:
            loss = keras_loss(out.loss, out.head, outputs[index], batch["targets"][out.name], sample_weight)
            per_output.append(loss)
            weighted = loss if out.loss_weight == 1.0 else loss * tf.constant(out.loss_weight, loss.dtype)
            total = weighted if total is None else total + weighted
        penalty = self._penalty()
        if penalty is not None:
            total = total + tf.cast(penalty, total.dtype)
        return total, tf.stack([total, *per_output])

    def _dense_gradients(self, tape, total):
        """The tape's gradients, dense: an embedding's ``IndexedSlices`` (rows summed per id) become its full
        table, so every optimizer sees the dense gradient the IR defines (zero rows included)."""
        tf = self._tf
        grads = tape.gradient(total, self.trainable)
        return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]

    def _gradients(self, tape, total):
        tf = self._tf
        grads = self._dense_gradients(tape, total)
        return [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.trainable)]

    # -- the step bodies --------------------------------------------------------
    def _forward_body(self, training: bool):
        def forward(batch):
            return self._outputs(batch, training)

        return forward

    def _evaluate_body(self, training: bool):
        def evaluate(batch):
            outputs = self._outputs(batch, False)
            _, losses = self._losses(outputs, batch)
            return losses, outputs

        return evaluate

    def _gradients_body(self, training: bool):
        tf = self._tf

        def gradients(batch):
            with tf.GradientTape() as tape:
                outputs = self._outputs(batch, training)
                total, losses = self._losses(outputs, batch)
            return losses, self._gradients(tape, total)

        return gradients

    def _train_body(self, training: bool):
        tf = self._tf
        optimizer = self._optimizer_factory()

        def train(batch):
            optimizer.learning_rate.assign(batch["lr"])
            with tf.GradientTape() as tape:
                outputs = self._outputs(batch, True)
                total, losses = self._losses(outputs, batch)
            grads = self._dense_gradients(tape, total)
            optimizer.apply(grads, self.trainable)
            return losses, outputs

        return train

    # -- compiled, cached -----------------------------------------------------------
    def get(self, kind: str, training: bool, batch: dict[str, Any]) -> CompiledStep:
        """The compiled function of `kind` ("forward", "evaluate", "gradients", "train") for this batch structure."""
        return self.compiled(structure_key(kind, training, batch), lambda: getattr(self, f"_{kind}_body")(training),
                             lambda: batch_signature(self._tf, batch))

    def compiled(self, key: tuple, make_body: Callable[[], Callable[[dict], Any]],
                 make_signature: Callable[[], dict[str, Any]]) -> CompiledStep:
        """The cached function under `key`, traced from ``make_body()`` with ``make_signature()`` the first time
        (also what :mod:`.resident` compiles its chunks of steps with)."""
        step = self._functions.get(key)
        if step is None:
            step = CompiledStep(self._tf, make_body(), make_signature(), self.jit_compile)
            self._functions[key] = step
        return step

    def __call__(self, kind: str, training: bool, batch: dict[str, Any]):
        return self.get(kind, training, batch)(batch)


class CompiledStep:
    """One traced step function, called with flat positional tensors.

    The ``tf.function`` takes the batch's leaves (``tf.nest`` order) as
    positional tensors and re-packs them inside; calling its concrete function
    directly with tensors skips ``tf.function``'s per-call argument binding and
    NumPy conversion (what that saves: docs/performance.md).
    """

    def __init__(self, tf, body: Callable[[dict], Any], signature: dict[str, Any], jit_compile: bool) -> None:
        self._tf = tf
        self._signature = signature

        def flat_body(*leaves):
            return body(tf.nest.pack_sequence_as(signature, list(leaves)))

        self.function = tf.function(flat_body, input_signature=tf.nest.flatten(signature),
                                    jit_compile=jit_compile, autograph=False)
        self.concrete = self.function.get_concrete_function()
        self._convert = tf.convert_to_tensor
        self._tensor_type = tf.Tensor

    def __call__(self, batch: dict[str, Any]):
        convert, tensor_type = self._convert, self._tensor_type
        leaves = [a if isinstance(a, tensor_type) else convert(a) for a in self._tf.nest.flatten(batch)]
        return self.concrete(*leaves)

    @property
    def tracing_count(self) -> int:
        return self.function.experimental_get_tracing_count()
