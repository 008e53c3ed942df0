"""Noticing a run that diverges: a training loss that becomes NaN or infinite.

Without ``terminate_on_nan`` training goes on (as Keras does), but not
silently: :class:`DivergenceWatch`, which :func:`dnnc.runner.api.train_spec`
adds after the spec's own callbacks, warns once, naming the epoch and the step
where the loss first stopped being finite, and the run ends with manifest
status ``"diverged"`` (the CLI exits with status 1).
"""

from __future__ import annotations

import math

from .callbacks.base import Callback


class DivergenceWatch(Callback):
    """Records (and reports once) the first training step whose loss is not finite."""

    reads_only_batch_logs = True

    def __init__(self) -> None:
        self.epoch = 0
        #: (0-based epoch, 0-based step in the epoch, 1-based global step, the loss) of the first non-finite loss.
        self.first: tuple[int, int, int, float] | None = None

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        if self.first is not None:
            return
        bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
        if not bad:
            return
        key, value = next(iter(bad.items()))
        self.first = (self.epoch, step, self.context.global_step, value)
        self.context.message(
            f"the training diverged: {key} is {value} at epoch {self.epoch + 1}, step {step + 1}/"
            f"{self.context.steps_per_epoch} (global step {self.context.global_step}); the weights are no longer "
            "usable (lower the learning rate, or add a terminate_on_nan callback to stop at once)",
            "warning",
        )

    def describe(self) -> str | None:
        """``'epoch 3, step 17 (global step 217)'`` of the first non-finite loss, or None."""
        if self.first is None:
            return None
        epoch, step, global_step, _ = self.first
        return f"epoch {epoch + 1}, step {step + 1} (global step {global_step})"
