"""reduce_lr_on_plateau: multiply the learning rate when the monitor stops improving (Keras 3 semantics).

At each epoch end: write the current rate into ``logs["learning_rate"]``; then,
if the monitored value exists,

1. in cooldown: ``cooldown_counter −= 1`` and ``wait = 0``;
2. on an improvement (``min_delta`` is *absolute*): ``best = value``, ``wait = 0``;
3. else, when not in cooldown: ``wait += 1``; when ``wait >= patience`` and the
   current rate ``> float32(min_lr)``: new rate ``= max(rate · factor, min_lr)``
   (stored in float32), ``cooldown_counter = cooldown``, ``wait = 0``.

The rate is changed with ``context.set_learning_rate``, i.e. through the
loop's learning-rate factor: every later step uses
``float32(learning_rate_at(optimizer schedule, step) · factor)``.  The class
declares ``changes_learning_rate``, so the loop also puts ``learning_rate`` into
the logs before the callbacks listed ahead of this one see them.
"""

from __future__ import annotations

import numpy as np

from .base import Callback
from .monitor import Monitor


class ReduceLROnPlateau(Callback):
    changes_learning_rate = True  # the loop logs `learning_rate`, as Keras does with this callback

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if not 0.0 < factor < 1.0:
            raise ValueError(f"reduce_lr_on_plateau: factor must be in (0, 1) (received {factor})")
        self.watch = Monitor("reduce_lr_on_plateau", monitor, mode, min_delta)
        self.factor = float(factor)
        self.patience = int(patience)
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0
        self.reductions: list[tuple[int, float]] = []  # (0-based epoch, new rate)

    def on_train_begin(self, logs=None) -> None:
        self._reset()
        self.watch.resolve(self.context)

    def state(self) -> dict:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter,
                "reductions": [list(r) for r in self.reductions]}

    def restore(self, state: dict) -> None:
        self.best, self.wait, self.cooldown_counter = state["best"], state["wait"], state["cooldown_counter"]
        self.reductions = [(int(e), float(r)) for e, r in state["reductions"]]

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        old_lr = self.context.learning_rate()
        logs["learning_rate"] = old_lr
        current = self.watch.value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.watch.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and old_lr > float(np.float32(self.min_lr)):
                new_lr = float(np.float32(max(old_lr * self.factor, self.min_lr)))
                self.context.set_learning_rate(new_lr)
                self.reductions.append((epoch, new_lr))
                self.context.message(f"epoch {epoch + 1}: reduce_lr_on_plateau set the learning rate to {new_lr:.6g}")
                self.cooldown_counter = self.cooldown
                self.wait = 0
