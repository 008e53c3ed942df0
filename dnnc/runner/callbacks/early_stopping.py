"""early_stopping: stop when the monitored value stops improving (Keras 3 semantics).

At each epoch end (0-based ``epoch``):

1. skip if the value is missing or ``epoch < start_from_epoch``;
2. with ``restore_best_weights`` and no snapshot yet, snapshot the weights;
3. ``wait += 1``;
4. on an improvement: ``best = value``, snapshot (when restoring), and
   ``wait = 0`` only if there is no ``baseline`` or the value also beats it;
5. otherwise, if ``wait >= patience`` and ``epoch > 0``: stop.

At the end of training the best weights are restored whenever
``restore_best_weights`` is set and a snapshot exists, *even if training did not
stop early* (Keras 3 behaviour).  Hence patience 0 and 1 behave the same and
training never stops after the first epoch.
"""

from __future__ import annotations

import numpy as np

from .base import Callback
from .monitor import Monitor


class EarlyStopping(Callback):
    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        patience: int = 0,
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        self.watch = Monitor("early_stopping", monitor, mode, min_delta)
        self.patience = int(patience)
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.stopped_epoch: int | None = None
        self.restored = False

    def on_train_begin(self, logs=None) -> None:
        self._reset()
        self.watch.resolve(self.context)

    def _snapshot(self) -> dict[str, np.ndarray]:
        return {k: np.array(v, copy=True) for k, v in self.model.get_weights().items()}

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        current = self.watch.value(logs)
        if current is None or epoch < self.start_from_epoch:
            return None
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._snapshot()
            self.best_epoch = epoch
        self.wait += 1
        if self.watch.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._snapshot()
            if self.baseline is None or self.watch.is_improvement(current, float(self.baseline)):
                self.wait = 0
            return None
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.context.request_stop("early_stopping")
            self.context.message(
                f"early stopping at epoch {epoch + 1}: {self.watch.monitor} has not improved for {self.wait} "
                f"epoch{'s' if self.wait != 1 else ''} (best {self.best:.6g} at epoch {(self.best_epoch or 0) + 1})"
            )
            return True
        return None

    _STATE = ("wait", "best", "best_epoch", "best_weights", "stopped_epoch", "restored")

    def state(self) -> dict:
        return {name: getattr(self, name) for name in self._STATE}

    def restore(self, state: dict) -> None:
        for name in self._STATE:
            setattr(self, name, state[name])

    def on_train_end(self, logs=None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            self.restored = True
            self.context.message(f"restored the weights of the best epoch, {(self.best_epoch or 0) + 1}")
