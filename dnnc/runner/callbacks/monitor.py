"""Watching one history key: direction (mode) and the improvement test, as Keras 3 does it.

``mode = "auto"``: a key ending in ``loss`` is minimised; otherwise the metric's
own direction decides (mse, mae, rmse are minimised; accuracies, precision,
recall maximised); a key that is no known metric is maximised.  Improvement:
``current < best − |min_delta|`` (min) or ``current > best + |min_delta|`` (max);
the first value (best None) always improves.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...compiler.suggest import did_you_mean
from ..errors import RunnerError
from ..metrics import metric_directions

if TYPE_CHECKING:  # pragma: no cover
    from ...compiler.ir import ModelIR
    from ..context import TrainingContext

PREFIXES = ("val_", "test_")


def resolve_mode(monitor: str, mode: str, ir: "ModelIR | None") -> str:
    """``"min"`` or ``"max"`` for ``monitor`` under ``mode`` (auto resolved as in the module docstring)."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise RunnerError(f"mode must be 'auto', 'min' or 'max' (received {mode!r})")
    name = monitor
    for prefix in PREFIXES:
        name = name.removeprefix(prefix)
    if name.endswith("loss"):
        return "min"
    direction = metric_directions(ir).get(name) if ir is not None else None
    return "min" if direction == "down" else "max"


class Monitor:
    """One monitored key of one callback."""

    def __init__(self, owner: str, monitor: str, mode: str = "auto", min_delta: float = 0.0) -> None:
        self.owner, self.monitor, self.mode = owner, monitor, mode
        self.min_delta = abs(float(min_delta))
        self.resolved: str | None = None
        self.available = True

    def resolve(self, context: "TrainingContext") -> None:
        """Fix the direction and check that the key will exist (fail early on a typo)."""
        self.resolved = resolve_mode(self.monitor, self.mode, context.ir)
        keys = context.history_keys()
        if self.monitor in keys:
            self.available = True
            return
        self.available = False
        base = self.monitor.removeprefix("val_")
        if self.monitor.startswith("val_") and base in keys:
            context.message(
                f"{self.owner}: monitors {self.monitor!r}, but the data has no validation rows, so it does nothing "
                f"(add data.validation_split / data.validation, or monitor {base!r})",
                "warning",
            )
            return
        guess = did_you_mean(self.monitor, keys)
        hint = f" — did you mean {guess!r}?" if guess else ""
        raise RunnerError(
            f"{self.owner}: monitor {self.monitor!r} is not a history key of this run{hint} "
            f"(keys: {', '.join(keys)})"
        )

    def is_improvement(self, current: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.resolved is None:
            raise RuntimeError("Monitor.resolve() was not called")
        if self.resolved == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def value(self, logs: dict[str, float]) -> float | None:
        value = logs.get(self.monitor)
        if value is None:
            return None
        value = float(value)
        return value


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
