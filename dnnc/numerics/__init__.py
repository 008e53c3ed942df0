"""Framework-free reference math (NumPy only): heads, schedules, optimizers, losses, penalties."""

from .clipping import clip_by_global_norm, clip_by_norm, clip_gradients
from .heads import HEADS, apply_head, sigmoid, softmax
from .losses import (
    loss_input_kind,
    loss_value,
    match_rank,
    per_sample_loss,
    reduce_loss,
    sparse_labels,
)
from .optimizers import REFERENCE_OPTIMIZERS, ReferenceOptimizer, make_reference_optimizer
from .penalties import penalty, regularizer_penalty
from .schedules import SCHEDULE_FUNCTIONS, learning_rate_at

__all__ = [
    "HEADS",
    "REFERENCE_OPTIMIZERS",
    "SCHEDULE_FUNCTIONS",
    "ReferenceOptimizer",
    "apply_head",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_gradients",
    "learning_rate_at",
    "loss_input_kind",
    "loss_value",
    "make_reference_optimizer",
    "match_rank",
    "penalty",
    "per_sample_loss",
    "reduce_loss",
    "regularizer_penalty",
    "sigmoid",
    "softmax",
    "sparse_labels",
]
