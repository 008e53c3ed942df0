"""dnnc losses on Keras tensors: Keras's own loss functions, dnnc's logits rule and reduction.

See :mod:`dnnc.numerics.losses` for the definition: `output` is the model's raw
output, `head` the activation the compiler removed from the output layer.
Cross-entropies are computed from logits (never via clipped probabilities)
whenever the head is the loss's own activation; the reduction is
Σ(sample_weight · ℓ) / ℓ.size, i.e. / N for (N, units) outputs.
"""

from __future__ import annotations

from typing import Any, Mapping

from dnnc.numerics.losses import loss_input_kind


def _match_rank(ops, target, pred):
    """Keras's squeeze-or-expand on static ranks: (N,) against (N, 1) becomes (N, 1)."""
    t_rank, p_rank = len(target.shape), len(pred.shape)
    if t_rank == p_rank + 1 and target.shape[-1] == 1:
        if p_rank == 1:
            pred = ops.expand_dims(pred, -1)
        else:
            target = ops.squeeze(target, -1)
    elif p_rank == t_rank + 1 and pred.shape[-1] == 1:
        if t_rank == 1:
            target = ops.expand_dims(target, -1)
        else:
            pred = ops.squeeze(pred, -1)
    return target, pred


def _apply_head(ops, head: str, output):
    if head == "softmax":
        return ops.softmax(output, axis=-1)
    if head == "sigmoid":
        return ops.sigmoid(output)
    return output


def keras_per_sample_loss(loss_ir: Mapping[str, Any], head: str, output, target):
    """The unreduced loss tensor, shape (N,) for (N, units) outputs."""
    import keras
    from keras import ops

    kind = loss_ir["type"]
    mode = loss_input_kind(loss_ir, head)
    output = ops.convert_to_tensor(output)
    from_logits = mode == "logits"

    if mode == "predictions":
        pred = _apply_head(ops, head, output)
        y = ops.cast(ops.convert_to_tensor(target), pred.dtype)
        if kind == "mse":
            return keras.losses.mean_squared_error(y, pred)
        if kind == "mae":
            return keras.losses.mean_absolute_error(y, pred)
        return keras.losses.huber(y, pred, delta=float(loss_ir["delta"]))

    if kind == "sparse_categorical_crossentropy":
        labels = ops.cast(ops.convert_to_tensor(target), "int64")
        return keras.losses.sparse_categorical_crossentropy(labels, output, from_logits=from_logits)

    y = ops.cast(ops.convert_to_tensor(target), output.dtype)
    ls = float(loss_ir.get("label_smoothing", 0.0))
    if kind == "binary_crossentropy":
        y, output = _match_rank(ops, y, output)
        return keras.losses.binary_crossentropy(y, output, from_logits=from_logits, label_smoothing=ls)
    return keras.losses.categorical_crossentropy(y, output, from_logits=from_logits, label_smoothing=ls)


def keras_reduce_loss(per_sample, sample_weight=None):
    """Σ(sample_weight · ℓ) / ℓ.size (the divisor is the batch size, not Σ weights)."""
    from keras import ops

    if sample_weight is not None:
        w = ops.cast(ops.convert_to_tensor(sample_weight), per_sample.dtype)
        w = ops.reshape(w, (-1,) + (1,) * (len(per_sample.shape) - 1))
        per_sample = per_sample * w
    return ops.mean(per_sample)


def keras_loss(loss_ir: Mapping[str, Any], head: str, output, target, sample_weight=None):
    """The reduced batch loss as a scalar tensor (differentiable with respect to `output`)."""
    return keras_reduce_loss(keras_per_sample_loss(loss_ir, head, output, target), sample_weight)
