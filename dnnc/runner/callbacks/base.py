"""The callback interface of the runner, one implementation for every backend.

A callback sees the run only through the
:class:`~dnnc.runner.context.TrainingContext` it is bound to (``self.context``;
``self.model`` is ``self.context.model``): it reads the run's facts and the
loop's state there and asks for a stop, a new learning rate or a message there.
See :mod:`dnnc.runner.context` for the whole interface.  Plugin callbacks
(``CallbackType.create(config, context)``) are bound to the same context.

Order of calls, as in Keras 3 ``fit``::

    bind(context)             (before anything else)
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
``self.context.request_stop("callback")``).

A callback that changes the learning rate (``context.set_learning_rate``) sets
the class attribute ``changes_learning_rate = True``: then the loop puts
``learning_rate`` (the rate of the next step) into every epoch's logs before
any callback sees them, and it is a history key, as Keras does for
``ReduceLROnPlateau``.

Several steps per call (``training.steps_per_execution`` > 1): the backend runs
a chunk of steps, then the loop calls ``on_batch_end`` for each of them in
order, with each step's own losses and ``context.global_step`` as it was after
that step.  That is exact only for a callback that reads nothing but the logs;
such a callback sets the class attribute ``reads_only_batch_logs = True``.  Any
other callback with an ``on_batch_end`` (one that may stop training, change the
learning rate, or look at the model after a step) makes the loop run one step
per call, as before.

Resumable runs: a checkpoint keeps what :meth:`Callback.state` returns (JSON
values, NumPy arrays, or dicts and lists of them).  When ``dnnc resume``
continues a run, each callback is bound, ``on_train_begin()`` runs as for a
fresh run (``self.context.resumed`` is True, so a callback that writes files
does not truncate them), then :meth:`Callback.restore` gets that state back.
A run resumed in the middle of an epoch does not call ``on_epoch_begin`` for
that epoch again.  A callback whose counters live elsewhere than in ``state()``
would not resume exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..context import CallbackContext, TrainingContext  # CallbackContext: re-exported, what create() receives
from ..errors import RunnerError


class Callback:
    """Base class: every hook does nothing."""

    #: True if this callback changes the learning rate: the loop then logs ``learning_rate`` every epoch.
    changes_learning_rate: ClassVar[bool] = False

    #: True if ``on_batch_end`` only reads its logs (never the model, never a stop or a new learning rate):
    #: then the loop may run several steps per backend call and replay ``on_batch_end`` after them.
    reads_only_batch_logs: ClassVar[bool] = False

    #: Set by :meth:`bind` before training starts.
    context: TrainingContext | None = None

    def bind(self, context: TrainingContext) -> None:
        self.context = context

    @property
    def model(self):
        """The backend's model (its weights: ``get_weights``, ``set_weights``, ``save``)."""
        return self.context.model

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

    def state(self) -> dict[str, Any]:
        """What a resumable checkpoint keeps of this callback (default: nothing)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state` returned; called after ``on_train_begin`` when a run resumes."""


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

    @property
    def changes_learning_rate(self) -> bool:
        """True if any callback declares that it changes the learning rate."""
        return any(c.changes_learning_rate for c in self.callbacks)

    def bind(self, context: TrainingContext) -> None:
        for c in self.callbacks:
            c.bind(context)

    def on_train_begin(self, logs=None) -> None:
        for c in self.callbacks:
            c.on_train_begin(logs)

    def on_epoch_begin(self, epoch: int) -> None:
        for c in self.callbacks:
            c.on_epoch_begin(epoch)

    @property
    def wants_batches(self) -> bool:
        return bool(self._batch)

    @property
    def acts_on_batches(self) -> bool:
        """True if a callback's ``on_batch_end`` may need the model right after its step (one step per call)."""
        return any(not c.reads_only_batch_logs for c in self._batch)

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

    def states(self) -> list[dict[str, Any]]:
        """Every callback's :meth:`Callback.state`, in order, tagged with its class name."""
        return [{"callback": type(c).__name__, "state": c.state()} for c in self.callbacks]

    def restore(self, states: list[dict[str, Any]]) -> None:
        """Give each callback its state back (the list :meth:`states` returned when the checkpoint was written)."""
        names = [type(c).__name__ for c in self.callbacks]
        saved = [s["callback"] for s in states]
        if names != saved:
            raise RunnerError(f"the checkpoint holds the state of the callbacks {saved}, but this run has {names}")
        for c, s in zip(self.callbacks, states):
            c.restore(s["state"])

    def close(self) -> None:
        errors = []
        for c in self.callbacks:
            try:
                c.close()
            except Exception as exc:  # close every callback even if one fails
                errors.append(exc)
        if errors:
            raise errors[0]
