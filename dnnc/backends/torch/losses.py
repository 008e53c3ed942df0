"""dnnc losses on torch tensors, with dnnc's (= Keras's) formulas and reduction.

See :mod:`dnnc.numerics.losses` for the definition: `output` is the model's raw
output, `head` the activation the compiler removed from the output layer.
Unlike torch's defaults: the reduction is Σ(sample_weight · ℓ) / ℓ.size (not
/ Σ weights), (N,) targets against (N, 1) outputs are reshaped instead of
broadcast to (N, N), binary cross-entropy on probabilities clips at 1e-7
instead of clamping the log at −100, and BCE label smoothing is y·(1−ls) + ls/2.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F

from dnnc.numerics.losses import PROB_MAX, PROB_MIN, loss_input_kind


def _match_rank(target: torch.Tensor, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras's squeeze-or-expand: (N,) against (N, 1) becomes (N, 1), never (N, N)."""
    if target.dim() == pred.dim() + 1 and target.shape[-1] == 1:
        if pred.dim() == 1:
            pred = pred.unsqueeze(-1)
        else:
            target = target.squeeze(-1)
    elif pred.dim() == target.dim() + 1 and pred.shape[-1] == 1:
        if target.dim() == 1:
            target = target.unsqueeze(-1)
        else:
            pred = pred.squeeze(-1)
    if target.shape != pred.shape:
        raise ValueError(f"targets of shape {tuple(target.shape)} do not match outputs of shape {tuple(pred.shape)}")
    return target, pred


def _apply_head(head: str, output: torch.Tensor) -> torch.Tensor:
    if head == "softmax":
        return torch.softmax(output, dim=-1)
    if head == "sigmoid":
        return torch.sigmoid(output)
    return output


def _as_tensor(x: Any, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype or like.dtype, device=like.device)


def torch_per_sample_loss(loss_ir: Mapping[str, Any], head: str, output: torch.Tensor, target: Any) -> torch.Tensor:
    """The unreduced loss, shape (N,) for (N, units) outputs."""
    kind = loss_ir["type"]
    mode = loss_input_kind(loss_ir, head)

    if mode == "predictions":
        y, pred = _match_rank(_as_tensor(target, output), _apply_head(head, output))
        e = pred - y
        if kind == "mse":
            return torch.square(e).mean(dim=-1)
        if kind == "mae":
            return torch.abs(e).mean(dim=-1)
        d = float(loss_ir["delta"])
        a = torch.abs(e)
        return torch.where(a <= d, 0.5 * torch.square(e), d * a - 0.5 * d * d).mean(dim=-1)

    if kind == "sparse_categorical_crossentropy":
        labels = _as_tensor(target, output, torch.int64)
        if labels.dim() == output.dim():
            labels = labels.squeeze(-1)
        z = output if mode == "logits" else torch.log(torch.clamp(output, PROB_MIN, PROB_MAX))
        n_classes = z.shape[-1]
        per = F.cross_entropy(z.reshape(-1, n_classes), labels.reshape(-1), reduction="none")
        return per.reshape(labels.shape)

    y = _as_tensor(target, output)
    ls = float(loss_ir.get("label_smoothing", 0.0))
    if kind == "binary_crossentropy":
        y, z = _match_rank(y, output)
        if ls:
            y = y * (1.0 - ls) + 0.5 * ls
        if mode == "logits":
            elementwise = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        else:
            p = torch.clamp(z, PROB_MIN, PROB_MAX)
            elementwise = -(y * torch.log(p) + (1.0 - y) * torch.log(1.0 - p))
        return elementwise.mean(dim=-1)

    # categorical_crossentropy
    if y.shape != output.shape:
        raise ValueError(f"one-hot targets of shape {tuple(y.shape)} do not match outputs of shape {tuple(output.shape)}")
    if ls:
        y = y * (1.0 - ls) + ls / output.shape[-1]
    if mode == "logits":
        log_p = F.log_softmax(output, dim=-1)
    else:
        log_p = torch.log(torch.clamp(output / output.sum(dim=-1, keepdim=True), PROB_MIN, PROB_MAX))
    return -(y * log_p).sum(dim=-1)


def torch_reduce_loss(per_sample: torch.Tensor, sample_weight: Any = None) -> torch.Tensor:
    """Σ(sample_weight · ℓ) / ℓ.size (the divisor is the batch size, not Σ weights)."""
    if sample_weight is not None:
        w = _as_tensor(sample_weight, per_sample).reshape((-1,) + (1,) * (per_sample.dim() - 1))
        per_sample = per_sample * w
    return per_sample.mean()


def torch_loss(
    loss_ir: Mapping[str, Any], head: str, output: torch.Tensor, target: Any, sample_weight: Any = None
) -> torch.Tensor:
    """The reduced batch loss as a scalar tensor (differentiable with respect to `output`)."""
    return torch_reduce_loss(torch_per_sample_loss(loss_ir, head, output, target), sample_weight)
