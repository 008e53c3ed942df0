"""terminate_on_nan: stop as soon as a training step's loss is NaN or infinite.

The check runs after every step; the epoch ends right there (its validation
and epoch-end callbacks still run, as in Keras), and training stops.
model_checkpoint never writes non-finite weights, so the last good checkpoint
stays on disk.  The CLI exits with status 1.
"""

from __future__ import annotations

import math

from .base import Callback


class TerminateOnNaN(Callback):
    def __init__(self) -> None:
        self.epoch = 0
        self.triggered_at: tuple[int, int] | None = None  # (0-based epoch, 0-based step in the epoch)

    def state(self) -> dict:
        return {"epoch": self.epoch, "triggered_at": None if self.triggered_at is None else list(self.triggered_at)}

    def restore(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.triggered_at = None if state["triggered_at"] is None else tuple(state["triggered_at"])

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, step: int, logs: dict[str, float]) -> bool | None:
        loss = logs.get("loss")
        if loss is None or math.isfinite(loss):
            return None
        self.triggered_at = (self.epoch, step)
        steps = self.context.steps_per_epoch
        self.context.request_stop("nan")
        self.context.message(
            f"terminate_on_nan: the loss is {loss} at epoch {self.epoch + 1}, step {step + 1}/{steps} "
            f"(global step {self.context.global_step}); training stopped",
            "error",
        )
        return True
