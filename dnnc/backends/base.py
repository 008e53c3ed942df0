"""The interface every backend implements (built-in or third-party).

A backend turns a :class:`~dnnc.compiler.ir.ModelIR` plus canonical initial
weights into a native model and exposes the handful of operations the shared
runner and the conformance suite need.  Data, batching, the batch order,
learning-rate schedules, metrics and callbacks all live in dnnc, not in the
backend.

Arrays crossing this interface are NumPy: features ``float32``; class labels
``int64`` of shape (N,); one-hot and regression targets ``float32`` (N, k);
sample weights ``float32`` (N,) or ``None``.  Inputs and targets are dicts
keyed by the IR's input names and output names.  Weights are dicts keyed by
canonical names ``"<node>/<param>"`` in the IR's canonical layout (see
:mod:`dnnc.compiler.ir`), including batch-norm moving statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

from ..compiler.ir import ModelIR

Arrays = Mapping[str, np.ndarray]


@dataclass
class StepResult:
    """What one training or evaluation step reports.

    ``losses`` holds ``"loss"`` (the total: Σ loss_weight·output loss + regularisation
    penalties) and, for models with several outputs, ``"<output>_loss"`` for each
    output (without penalties).  ``outputs`` holds each output's logits (the model
    output before its head), computed in the same forward pass (for a training step:
    the training-mode pass *before* the update, as Keras reports training metrics).
    """

    losses: dict[str, float]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class CompiledModel(Protocol):
    """A native model built from an IR by a backend."""

    ir: ModelIR
    backend_name: str

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every parameter (trainable and moving statistics) in the canonical layout."""

    def set_weights(self, weights: Arrays) -> None:
        """Load weights in the canonical layout; unknown or missing keys, or wrong shapes, raise ValueError."""

    def forward(self, inputs: Arrays, *, training: bool = False, dropout_masks: Arrays | None = None) -> dict[str, np.ndarray]:
        """Outputs (logits) for a batch.

        ``training=True`` is the training-mode pass: batch statistics in batch norm
        (and one update of its moving statistics), dropout active.  With
        ``dropout_masks`` (node name → keep mask of 0/1 of the node's output shape
        with the batch axis), dropout uses those masks instead of the framework's RNG.
        """

    def loss_and_gradients(
        self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None,
        training: bool = True, dropout_masks: Arrays | None = None,
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """The losses (as in :class:`StepResult`) and the gradient of the total loss
        with respect to every trainable parameter (canonical keys and layout), without
        updating the weights (moving statistics do update in training mode)."""

    def train_step(
        self, inputs: Arrays, targets: Arrays, *, learning_rate: float,
        sample_weight: np.ndarray | None = None, dropout_masks: Arrays | None = None,
    ) -> StepResult:
        """One optimizer step with the current learning rate (computed by dnnc)."""

    def evaluate_step(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None) -> StepResult:
        """Inference-mode losses and outputs for a batch (no update)."""

    # Optional: ``prepare_training(self) -> None`` builds the optimizer (and anything else the
    # first train_step would build) ahead of time; the runner calls it, when present, before
    # the first epoch so that one-time set-up is not counted in the epoch times.

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's slots in canonical form (for checkpoints and conformance); may be empty."""

    def layer_param_counts(self) -> dict[str, tuple[int, int]]:
        """The framework's own count per IR node: node name → (trainable, non-trainable)."""

    def summary(self) -> str:
        """The framework's own model summary, as text."""

    def save(self, path: Path) -> list[Path]:
        """Save a native artifact (the path's suffix is the backend's `artifact_suffix`); return the files written."""


@runtime_checkable
class Backend(Protocol):
    """A registered backend (returned by the ``dnnc_backends`` hook)."""

    name: str
    #: IR ops this backend can build (see dnnc.compiler.lower_layers.CORE_OPS).
    supported_ops: frozenset[str]
    #: Suffix of the native artifact written by `CompiledModel.save`, e.g. ".keras".
    artifact_suffix: str

    def status(self) -> tuple[bool, str]:
        """(available, detail): the framework version, or why the backend cannot be used. Must not import the framework."""

    def build(self, ir: ModelIR, weights: Arrays) -> CompiledModel:
        """Build the native model and load the given canonical weights."""

    def load(self, path: Path) -> CompiledModel:
        """Load an artifact written by `CompiledModel.save`."""


class BackendError(Exception):
    """A backend cannot be used for a model (missing framework, unsupported op…); the message says why."""


def unsupported_ops(backend: Backend, ir: ModelIR) -> list[str]:
    """The IR's ops the backend does not declare, sorted."""
    return sorted(ir.ops - backend.supported_ops)


def check_supported(backend: Backend, ir: ModelIR) -> None:
    """Fail closed when the IR uses ops the backend does not declare."""
    missing = unsupported_ops(backend, ir)
    if missing:
        nodes = [n.name for n in ir.nodes if n.op in missing]
        raise BackendError(
            f"backend {backend.name!r} does not support op{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (used by layer{'s' if len(nodes) > 1 else ''} "
            f"{', '.join(repr(n) for n in nodes)})"
        )


def check_weights(ir: ModelIR, weights: Arrays) -> None:
    """Raise ValueError unless `weights` holds exactly the IR's parameters with the right shapes."""
    expected = {key: p.shape for key, _, p in ir.weight_specs()}
    missing = sorted(set(expected) - set(weights))
    unknown = sorted(set(weights) - set(expected))
    if missing or unknown:
        raise ValueError(f"weights do not match the model: missing {missing or 'none'}, unknown {unknown or 'none'}")
    for key, shape in expected.items():
        got = tuple(np.shape(weights[key]))
        if got != tuple(shape):
            raise ValueError(f"weight {key!r} has shape {got}, expected {tuple(shape)}")


