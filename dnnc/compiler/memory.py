"""How much memory a model's parameters and optimizer state take (float32), for `validate` and the
refusal of `build`/`train` (:mod:`dnnc.runner.resources`).

The estimate is a lower bound of what training needs: every parameter (4 bytes
each, moving statistics included) plus the optimizer's slots, one float32 array
per trainable parameter and slot, as Keras 3 keeps them.  Gradients,
activations, the data and the framework itself come on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .ir import ModelIR

BYTES_PER_VALUE = 4  # float32


def optimizer_slots(optimizer: Mapping[str, Any] | None) -> int:
    """Arrays the optimizer keeps per trainable parameter (its IR table; None: no training)."""
    if not optimizer:
        return 0
    kind = optimizer.get("type")
    if kind == "sgd":
        return 1 if optimizer.get("momentum") else 0
    if kind in ("adam", "adamw"):
        return 3 if optimizer.get("amsgrad") else 2
    if kind == "rmsprop":
        return 1 + bool(optimizer.get("momentum")) + bool(optimizer.get("centered"))
    if kind == "adagrad":
        return 1
    return 2  # nadam, adamax, adadelta: two moments / accumulators


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of the parameters and of the optimizer state."""

    weights: int
    optimizer: int
    optimizer_name: str | None

    @property
    def total(self) -> int:
        return self.weights + self.optimizer

    def describe(self) -> str:
        """``'3.1 MiB of weights + 6.2 MiB of adam state'``, or the weights alone."""
        text = f"{format_bytes(self.weights)} of weights"
        if self.optimizer_name is not None:
            text += f" + {format_bytes(self.optimizer)} of {self.optimizer_name} state"
        return text


def estimate(ir: ModelIR) -> MemoryEstimate:
    """The memory of ``ir``'s parameters and of its optimizer's state."""
    optimizer = ir.training.optimizer if ir.training is not None else None
    slots = optimizer_slots(optimizer)
    return MemoryEstimate(weights=ir.param_count * BYTES_PER_VALUE,
                          optimizer=ir.trainable_count * slots * BYTES_PER_VALUE,
                          optimizer_name=optimizer.get("type") if optimizer else None)


_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(n: int) -> str:
    """``1536`` → ``'1.5 KiB'``; powers of 1024, three significant digits."""
    value = float(n)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
