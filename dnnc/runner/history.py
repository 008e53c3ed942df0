"""The per-epoch record of a training run, keyed like a Keras ``History``.

Keys: ``loss`` and each metric (``accuracy``…); with several outputs also
``<output>_loss`` and ``<output>_<metric>``; validation keys are prefixed
``val_``; ``learning_rate`` when a callback that changes the learning rate runs
(``changes_learning_rate``, e.g. reduce_lr_on_plateau).  Test
metrics (prefixed ``test_``) are kept apart in :attr:`History.test`.
Epochs are stored 0-based (:attr:`History.epochs`) and shown 1-based.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class History:
    """What :func:`dnnc.runner.train` returns."""

    epochs: list[int] = field(default_factory=list)
    """0-based index of each recorded epoch."""
    history: dict[str, list[float | None]] = field(default_factory=dict)
    """Key → one value per recorded epoch (None where a key was absent that epoch)."""
    test: dict[str, float] = field(default_factory=dict)
    """Final test metrics (``test_loss``, ``test_accuracy``, …); empty without test rows."""
    epoch_seconds: list[float] = field(default_factory=list)
    """Wall time of each epoch (training steps + validation), in seconds."""
    steps: int = 0
    """Optimizer steps performed (the global step after training)."""
    stopped_epoch: int | None = None
    """0-based epoch at whose end training was stopped early, or None."""
    stop_reason: str | None = None
    """Why training stopped early: ``"early_stopping"``, ``"nan"`` or a callback's own reason."""

    def append(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        """Record one epoch's logs, keeping every key's list aligned with :attr:`epochs`."""
        n = len(self.epochs)
        for key in logs:
            if key not in self.history:
                self.history[key] = [None] * n
        for key, values in self.history.items():
            value = logs.get(key)
            values.append(None if value is None else float(value))
        self.epochs.append(int(epoch))
        self.epoch_seconds.append(float(seconds))

    @property
    def last(self) -> dict[str, float]:
        """The logs of the last recorded epoch."""
        if not self.epochs:
            return {}
        return {k: v[-1] for k, v in self.history.items() if v[-1] is not None}

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON form: epochs 1-based; NaN and infinities as the strings "NaN", "Infinity", "-Infinity"."""
        return {
            "epochs": [e + 1 for e in self.epochs],
            "history": {k: [json_float(x) for x in v] for k, v in self.history.items()},
            "test": {k: json_float(v) for k, v in self.test.items()},
            "epoch_seconds": [round(s, 6) for s in self.epoch_seconds],
            "steps": self.steps,
            "stopped_epoch": None if self.stopped_epoch is None else self.stopped_epoch + 1,
            "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        stopped = data.get("stopped_epoch")
        return cls(
            epochs=[int(e) - 1 for e in data.get("epochs", [])],
            history={k: [None if x is None else float(x) for x in v] for k, v in data.get("history", {}).items()},
            test={k: (math.nan if v is None else float(v)) for k, v in data.get("test", {}).items()},
            epoch_seconds=[float(s) for s in data.get("epoch_seconds", [])],
            steps=int(data.get("steps", 0)),
            stopped_epoch=None if stopped is None else int(stopped) - 1,
            stop_reason=data.get("stop_reason"),
        )


def json_float(x: float | None) -> float | str | None:
    """A float for JSON: finite values as they are, the others as the strings float() reads back."""
    if x is None:
        return None
    x = float(x)
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
