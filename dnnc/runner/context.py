"""What a callback or a progress reporter sees of a training run, and what it may ask of the loop.

The training loop (:class:`dnnc.runner.loop.Trainer`) builds one
:class:`TrainingContext` per run and hands it to every callback
(``callback.bind(context)``, then ``self.context``) and to the progress reporter
(``progress.train_begin(context)``).  Built-in and plugin callbacks get the same
object; nothing else of the loop is reachable from a callback.

A callback may **read**

* the run's fixed facts: ``ir``, ``run_dir`` (None outside a recorded run),
  ``artifact_suffix`` (the backend's native model suffix, e.g. ``".keras"``, or
  None), ``epochs``, ``start_epoch``, ``steps_per_epoch``, ``batch_size``,
  ``seed``, ``strict_parity``, ``train_rows``, ``validation_rows`` and
  ``test_rows`` (None when the data has no such split), ``has_validation``,
  :meth:`~TrainingContext.history_keys` (every key an epoch's logs will hold),
  :meth:`~TrainingContext.rows` (a copy of the first rows of the training,
  validation or test data, to measure the model on);
* the state of the loop: ``epoch`` (0-based, the running one), ``global_step``
  (optimizer steps done so far over the whole run), ``lr_factor`` (the
  multiplier of the scheduled learning rate), :meth:`~TrainingContext.learning_rate`
  (the rate of the next step) and ``stop_reason`` (None until a stop is requested);
* ``model``, the backend's :class:`~dnnc.backends.base.CompiledModel`, for its
  weights: ``get_weights()``, ``set_weights(...)``, ``save(path)``.  Training
  steps are the loop's; a callback never calls ``train_step``.

and may **request**

* :meth:`~TrainingContext.request_stop`: end training after the current step
  (from ``on_batch_end``) or epoch (from ``on_epoch_end``);
* :meth:`~TrainingContext.set_learning_rate`: the rate of the next step; later
  steps keep following the schedule, times the same factor (``lr_factor``).
  A callback that does this declares ``changes_learning_rate = True`` (see
  :class:`~dnnc.runner.callbacks.base.Callback`) so the loop records
  ``learning_rate`` in the history;
* :meth:`~TrainingContext.unfreeze`: make frozen layers trainable from the
  next step on (the unfreeze callback does this; the optimizer starts afresh);
* :meth:`~TrainingContext.message`: a line for the user (progress display and
  ``train.log``), with level ``"info"``, ``"warning"`` or ``"error"``.

Everything the loop changes while it runs is in one :class:`TrainingState` of
plain values (epoch, global step, learning-rate factor, stop request, unfrozen
layers), the part of a checkpoint that belongs to the loop; a callback keeps its
own state (patience counters, best values) in its own attributes and hands it
to checkpoints through ``state()`` / ``restore()``
(:class:`~dnnc.runner.callbacks.base.Callback`).  ``resumed`` is True when the
run continues from a checkpoint (``dnnc resume``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..numerics.schedules import learning_rate_at
from .errors import RunnerError

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import CompiledModel
    from ..compiler.ir import ModelIR
    from .datasets.containers import Datasets, Split

#: ``report(text, level)``: where :meth:`TrainingContext.message` goes.
Report = Callable[[str, str], None]
#: ``rows(split, n)``: what :meth:`TrainingContext.rows` returns.
Rows = Callable[[str, "int | None"], "Split | None"]

SPLITS = ("train", "validation", "test")


def copied_rows(datasets: "Datasets") -> Rows:
    """The loop's ``rows`` for the context: copies of a split's first rows, never the loop's own arrays."""

    def rows(split: str, n: int | None = None) -> "Split | None":
        part = getattr(datasets, split)
        if part is None:
            return None
        return part.take(np.arange(part.n if n is None else min(int(n), part.n)))  # an index array copies

    return rows


@dataclass
class TrainingState:
    """The loop's mutable state; only the loop and the context's requests change it."""

    epoch: int = 0
    """0-based index of the running epoch."""
    global_step: int = 0
    """Optimizer steps done so far, counted over the whole run (the index of the next step)."""
    lr_factor: float = 1.0
    """Every step uses ``float32(learning_rate_at(schedule, step) · lr_factor)``."""
    stop_reason: str | None = None
    """Why training is to stop (``"early_stopping"``, ``"nan"``, …), None while it goes on."""
    unfrozen: list[str] = field(default_factory=list)
    """Layers made trainable during the run (:meth:`TrainingContext.unfreeze`), in order."""

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "global_step": self.global_step, "lr_factor": self.lr_factor,
                "stop_reason": self.stop_reason, "unfrozen": list(self.unfrozen)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainingState":
        return cls(epoch=int(data["epoch"]), global_step=int(data["global_step"]), lr_factor=float(data["lr_factor"]),
                   stop_reason=data["stop_reason"], unfrozen=[str(n) for n in data["unfrozen"]])


@dataclass(frozen=True)
class CallbackContext:
    """What a plugin's ``CallbackType.create(config, context)`` receives, before training starts.

    ``ir`` and ``run_dir`` are the run's; ``message(text)`` shows an info line.  Once training
    starts, the created callback sees the whole :class:`TrainingContext` as ``self.context``,
    like every built-in callback.
    """

    ir: "ModelIR"
    run_dir: Path | None
    message: Callable[[str], None]
    extra: dict[str, Any] | None = None


class TrainingContext:
    """One run as callbacks and progress reporters see it; see the module docstring."""

    def __init__(
        self,
        *,
        ir: "ModelIR",
        model: "CompiledModel",
        lr_spec: float | Mapping[str, Any],
        history_keys: Sequence[str],
        epochs: int,
        steps_per_epoch: int,
        batch_size: int,
        seed: int,
        train_rows: int,
        start_epoch: int = 0,
        strict_parity: bool = False,
        validation_rows: int | None = None,
        test_rows: int | None = None,
        run_dir: Path | None = None,
        artifact_suffix: str | None = None,
        report: Report | None = None,
        state: TrainingState | None = None,
        rows: Rows | None = None,
        unfreeze: Callable[[Sequence[str]], None] | None = None,
        resumed: bool = False,
    ) -> None:
        self.ir = ir
        self.model = model
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.artifact_suffix = artifact_suffix
        self.epochs = int(epochs)
        self.start_epoch = int(start_epoch)
        self.steps_per_epoch = int(steps_per_epoch)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.strict_parity = bool(strict_parity)
        self.train_rows = int(train_rows)
        self.validation_rows = validation_rows
        self.test_rows = test_rows
        self._lr_spec = lr_spec
        self._history_keys = list(history_keys)
        self._report = report
        self._rows = rows
        self._unfreeze = unfreeze
        self.resumed = bool(resumed)
        self.state = state or TrainingState(epoch=self.start_epoch, global_step=self.start_epoch * self.steps_per_epoch)

    # -- reading ----------------------------------------------------------------
    @property
    def has_validation(self) -> bool:
        return bool(self.validation_rows)

    def history_keys(self) -> list[str]:
        """Every key an epoch's logs will hold (a fresh list)."""
        return list(self._history_keys)

    def rows(self, split: str, n: int | None = None) -> "Split | None":
        """A copy of the first ``n`` rows (all when None) of ``split`` (``"train"``, ``"validation"``
        or ``"test"``); None when the data has no such split or the context has no data."""
        if split not in SPLITS:
            raise RunnerError(f"unknown split {split!r} (allowed: {', '.join(SPLITS)})")
        return None if self._rows is None else self._rows(split, n)

    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def global_step(self) -> int:
        return self.state.global_step

    @property
    def lr_factor(self) -> float:
        return self.state.lr_factor

    @property
    def stop_reason(self) -> str | None:
        return self.state.stop_reason

    def learning_rate(self, step: int | None = None) -> float:
        """The rate step ``step`` (default: the next step) uses: float32(scheduled · lr_factor)."""
        base = learning_rate_at(self._lr_spec, self.state.global_step if step is None else step)
        factor = self.state.lr_factor
        return base if factor == 1.0 else float(np.float32(base * factor))

    # -- requests ---------------------------------------------------------------
    def request_stop(self, reason: str = "callback") -> None:
        """Stop training at the end of the current step or epoch; the first reason given is kept."""
        if self.state.stop_reason is None:
            self.state.stop_reason = reason or "callback"

    def set_learning_rate(self, rate: float) -> None:
        """Make the next step use ``rate`` (later steps: the schedule times the same factor)."""
        base = learning_rate_at(self._lr_spec, self.state.global_step)
        if base <= 0.0:
            raise RunnerError("cannot rescale a learning rate of 0")
        self.state.lr_factor = float(rate) / base

    def unfreeze(self, layers: Sequence[str]) -> None:
        """Make the frozen `layers` trainable from the next step on: their weights join the gradients, a frozen
        batch norm leaves inference mode, and the optimizer starts afresh over the trained weights (new slots,
        iteration count 0).  RunnerError for a layer that is unknown or not frozen."""
        if self._unfreeze is None:
            raise RunnerError("this run cannot unfreeze layers (no training loop is attached to the context)")
        self._unfreeze(list(layers))

    def message(self, text: str, level: str = "info") -> None:
        """Show ``text`` to the user (``level``: ``"info"``, ``"warning"`` or ``"error"``)."""
        if self._report is not None:
            self._report(text, level)


__all__ = ["CallbackContext", "Report", "Rows", "TrainingContext", "TrainingState", "copied_rows"]
