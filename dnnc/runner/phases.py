"""Where a run's wall time goes: the manifest's ``phases`` record.

:func:`~dnnc.runner.api.train_spec` times each part of a run with :meth:`Phases.phase` and
:func:`~dnnc.runner.api.fit_and_record` writes the record into ``manifest.json``::

    "phases": {
      "started_unix": 1764652800.123,   # time.time() when train_spec began (after the imports of the CLI)
      "total_seconds": 14.2,            # from then until the manifest's last write
      "seconds": {"compile": 0.05, "data": 0.9, "backend_build": 2.1, ...}
    }

The phases, in order (a phase that did not happen is absent):

==================  ====================================================================================
``compile``         parse the spec, apply ``--set``, validate, lower to the IR
``data``            load the data files, check their SHA-256, prepare and check the splits
``backend_build``   find the backend and build the model (includes importing the framework)
``weights_init``    draw the initial weights, copy the ``init_from`` layers
``records_start``   copy the spec, write ir.json and the first manifest
``optimizer_build`` the backend's ``prepare_training`` (builds the optimizer) before the first step
``data_to_backend`` the splits handed to the backend once (resident training)
``step_compile``    ``training.compile``: the training step compiled for each batch size, before the epochs
``epochs``          the training epochs with their validation passes and callbacks
``test``            the test evaluation
``history``, ``metrics``, ``weights``, ``model``, ``learning_curves``
                    writing history.json, metrics.json, weights.npz, model<suffix>, learning_curves.png
==================  ====================================================================================

Times are wall-clock (``time.perf_counter``), rounded to the millisecond.  The imports of
``learning_curves`` are started in a thread when the data begins to load
(:func:`~dnnc.runner.curves.preload_matplotlib`), so they are spread over ``data`` and the phases after it
and ``learning_curves`` is mostly the drawing.  What happens before ``started_unix`` (interpreter start, imports) and after the
manifest's last write (the CLI's last lines, interpreter exit) is outside the record;
``benchmarks/process_phases.py`` measures it from the outside.  A resumed run's record is that of its
latest attempt.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator


class Phases:
    """Accumulates named wall-clock durations (thread-safe: a phase may run in a helper thread)."""

    def __init__(self) -> None:
        self.started_unix = time.time()
        self._start = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block under ``name`` (added to the phase's earlier time, if any)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to the phase ``name``."""
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``phases`` entry, the total measured until now."""
        with self._lock:
            seconds = {name: round(value, 3) for name, value in self.seconds.items()}
        return {"started_unix": round(self.started_unix, 3),
                "total_seconds": round(time.perf_counter() - self._start, 3), "seconds": seconds}


@contextmanager
def timed(phases: Phases | None, name: str) -> Iterator[None]:
    """:meth:`Phases.phase` when there is a record, else nothing."""
    if phases is None:
        yield
    else:
        with phases.phase(name):
            yield
