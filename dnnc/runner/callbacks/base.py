"""The callback interface of the runner, one implementation for every backend.

A callback sees the run through the :class:`~dnnc.runner.loop.Trainer` it is
bound to (``self.trainer``): ``trainer.model`` (the backend's
:class:`~dnnc.backends.base.CompiledModel`), ``trainer.ir``, ``trainer.run_dir``
(None outside a recorded run), ``trainer.lr_factor`` (the multiplier of the
scheduled learning rate), ``trainer.learning_rate()`` (the rate of the next
step), ``trainer.global_step``, ``trainer.request_stop(reason)``,
``trainer.message(text, level)`` and ``trainer.history_keys()``.

Order of calls, as in Keras 3 ``fit``::

    on_train_begin()
    for each epoch:
        on_epoch_begin(epoch)
        for each batch:  train step, then on_batch_end(step, logs)   (stops the epoch early on request)
        validation, then on_epoch_end(epoch, logs)                     (logs may be modified)
    on_train_end(logs)        (restore_best_weights happens here)
    test evaluation, then on_test_end(test_logs)
    close()                   (always, also after an error)

``epoch`` is 0-based (shown 1-based).  ``on_batch_end`` receives the step's own
losses (``{"loss": …}``), ``step`` being the 0-based index within the epoch.
``on_batch_end`` and ``on_epoch_end`` may return True to request a stop (same as
``trainer.request_stop(...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from ...compiler.ir import ModelIR
    from ..loop import Trainer


class Callback:
    """Base class: every hook does nothing."""

    #: Set by :meth:`bind` before training starts.
    trainer: "Trainer | None" = None

    def bind(self, trainer: "Trainer") -> None:
        self.trainer = trainer

    @property
    def model(self):
        return self.trainer.model

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_batch_end(self, step: int, logs: dict[str, float]) -> bool | None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        pass

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        pass

    def on_test_end(self, logs: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        """Release files and the like; called once, even when training failed."""


@dataclass(frozen=True)
class CallbackContext:
    """What a plugin's ``CallbackType.create(config, context)`` receives."""

    ir: "ModelIR"
    run_dir: Path | None
    message: Callable[[str], None]
    extra: dict[str, Any] | None = None


def _overrides(callback: Callback, name: str) -> bool:
    return getattr(type(callback), name) is not getattr(Callback, name)


class CallbackList:
    """Dispatches each hook to every callback, in the spec's order."""

    def __init__(self, callbacks=()) -> None:
        self.callbacks: list[Callback] = list(callbacks)
        # Only callbacks that implement on_batch_end are called per batch (it runs ~1000 times an epoch).
        self._batch = [c for c in self.callbacks if _overrides(c, "on_batch_end")]

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def bind(self, trainer: "Trainer") -> None:
        for c in self.callbacks:
            c.bind(trainer)

    def on_train_begin(self, logs=None) -> None:
        for c in self.callbacks:
            c.on_train_begin(logs)

    def on_epoch_begin(self, epoch: int) -> None:
        for c in self.callbacks:
            c.on_epoch_begin(epoch)

    @property
    def wants_batches(self) -> bool:
        return bool(self._batch)

    def on_batch_end(self, step: int, logs: dict[str, float]) -> bool:
        stop = False
        for c in self._batch:
            stop = bool(c.on_batch_end(step, logs)) or stop
        return stop

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        stop = False
        for c in self.callbacks:
            stop = bool(c.on_epoch_end(epoch, logs)) or stop
        return stop

    def on_train_end(self, logs=None) -> None:
        for c in self.callbacks:
            c.on_train_end(logs)

    def on_test_end(self, logs) -> None:
        for c in self.callbacks:
            c.on_test_end(logs)

    def close(self) -> None:
        errors = []
        for c in self.callbacks:
            try:
                c.close()
            except Exception as exc:  # close every callback even if one fails
                errors.append(exc)
        if errors:
            raise errors[0]
