"""One trial: the spec with the sampled values, trained through the shared runner.

A trial is ``train_spec(spec, overrides=["path=value", …], out=<out>/trials/<number>)``,
the same call as ``dnnc train spec --set path=value …``, so it follows the spec's
seed rules and writes an ordinary run directory (manifest with the overrides,
history, metrics, weights.npz, train.log; ``dnnc evaluate`` and ``dnnc predict``
work on it) without the two slowest files, the backend's native model file and
the learning-curves plot (training best.toml writes both).  Two things are added:

* a :class:`PruningCallback` that reports the metric after every epoch
  (``trial.report(value, step=epoch)``, epochs counted from 1) and asks the loop
  to stop once the pruner says so (``context.request_stop("pruned")``); the run
  directory is still completed (test metrics included) and the trial ends PRUNED;
* a :class:`DataCache`: a worker keeps the data of its last trials, so the data
  is loaded (and standardized) once per worker, not once per trial, as long as
  the trials' ``[data]`` tables, seeds and input shapes agree.

The trial's value is the best value of the metric over its epochs (the
smallest when minimizing, the largest when maximizing), as Keras Tuner and the
Optuna examples take it; the trial records that epoch (``best_epoch``), the
metric of every epoch and the last one.  A trial fails (and the search goes on)
when its values make an invalid spec, when the loss becomes NaN
(``terminate_on_nan``) or the metric is never finite, or when training raises
an unexpected error; a missing data set or backend stops the whole run.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..compiler.errors import SpecError
from ..runner.callbacks.base import Callback
from ..runner.errors import ShapeMismatch
from ..runner.history import json_float
from ..runner.progress import Progress
from .space import overrides
from .storage import process_start_ticks

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from .space import Param

Emit = Callable[[dict], None]

#: Trial user attributes written by dnnc (the results table reads them).
ATTRS = ("run_dir", "worker", "worker_started", "overrides", "metric_per_epoch", "epochs_run", "best_epoch",
         "last_value", "status", "seconds", "fail_reason", "pruned_at")


class TrialFailed(Exception):
    """The trial failed because of its values or its training; it is recorded FAILED and the search goes on."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class DataCache:
    """``load_datasets`` with the last ``size`` results kept (same arguments and data table → same arrays)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self.loads = 0

    def load(self, ir, *, base_dir, data_dir=None, download=True):
        from ..runner.api import load_datasets

        key = json.dumps([ir.data, ir.training.seed if ir.training else None, list(ir.inputs),
                          [o.name for o in ir.outputs], [list(ir.node(n).shape) for n in ir.inputs],
                          str(base_dir), str(data_dir), download], sort_keys=True, default=str)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        datasets = load_datasets(ir, base_dir=base_dir, data_dir=data_dir, download=download)
        self.loads += 1
        self._entries[key] = datasets
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return datasets


class PruningCallback(Callback):
    """Reports the metric to the trial after every epoch; requests a stop when the pruner prunes."""

    def __init__(self, trial: "optuna.trial.Trial", metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.context.request_stop("pruned")


class TrialProgress(Progress):
    """Sends each finished epoch of the trial to the display as an ``epoch`` event."""

    def __init__(self, emit: Emit, number: int, ordinal: int, metric: str) -> None:
        self.emit, self.number, self.ordinal, self.metric = emit, number, ordinal, metric
        self.epochs = 0

    def train_begin(self, context) -> None:
        self.epochs = context.epochs

    def epoch_end(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        self.emit({"event": "epoch", "trial": self.number, "ordinal": self.ordinal, "epoch": epoch + 1,
                   "epochs": self.epochs, "value": json_float(logs.get(self.metric))})

    def message(self, text: str, level: str = "info") -> None:
        if level in ("warning", "error"):
            self.emit({"event": "message", "trial": self.number, "level": level, "text": text})


class TrialRunner:
    """The objective of every trial of one worker: ``value = runner(trial)``."""

    def __init__(self, params: list["Param"], *, metric: str, direction: str, spec_path: str | Path, backend: str,
                 out_dir: str | Path, data_dir: str | Path | None = None, download: bool = True,
                 emit: Emit = lambda event: None) -> None:
        self.params = params
        self.metric = metric
        self.direction = direction
        self.spec_path = Path(spec_path)
        self.backend = backend
        self.trials_dir = Path(out_dir) / "trials"
        self.data_dir = data_dir
        self.download = download
        self.emit = emit
        self.cache = DataCache()
        self.ordinal = 0
        self.started = process_start_ticks(os.getpid())

    def __call__(self, trial: "optuna.trial.Trial") -> float:
        import optuna

        from ..runner.api import train_spec

        started = time.perf_counter()
        metric = self.metric
        values = {p.key: p.suggest(trial) for p in self.params}
        texts = overrides(self.params, values)
        run_dir = self.trials_dir / f"{trial.number:04d}"
        stale = trial.user_attrs
        for key in ATTRS:  # a retried trial arrives with the attributes of the failed one
            if stale.get(key) is not None:
                trial.set_user_attr(key, None)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", worker_id())
        trial.set_user_attr("worker_started", self.started)
        trial.set_user_attr("overrides", texts)
        self.emit({"event": "trial_start", "trial": trial.number, "ordinal": self.ordinal, "params": values})
        pruning = PruningCallback(trial, metric)
        progress = TrialProgress(self.emit, trial.number, self.ordinal, metric)

        def fail(reason: str) -> TrialFailed:
            trial.set_user_attr("fail_reason", reason)
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
            return TrialFailed(reason)

        try:
            result = train_spec(self.spec_path, backend=self.backend, out=run_dir, overrides=texts,
                                progress=progress, data_dir=self.data_dir, download=self.download,
                                callbacks=[pruning], data_loader=self.cache.load, artifacts=False)
        except SpecError as exc:
            raise fail("these values make the spec invalid: " + "; ".join(i.render() for i in exc.issues)) from None
        except ShapeMismatch as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            fail("interrupted")
            raise
        except Exception as exc:
            if environment_error(exc):
                fail(f"{type(exc).__name__}: {exc}")
                raise
            raise fail(f"{type(exc).__name__}: {exc}") from None

        history = result.history
        series = history.history.get(metric, [])
        trial.set_user_attr("metric_per_epoch", [json_float(v) for v in series])
        trial.set_user_attr("epochs_run", len(history.epochs))
        trial.set_user_attr("status", result.status)
        trial.set_user_attr("last_value", json_float(series[-1]) if series else None)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        if pruning.pruned_at is not None:
            trial.set_user_attr("pruned_at", pruning.pruned_at)
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        if result.status == "nan":
            raise fail("the loss became NaN or infinite (terminate_on_nan stopped training)")
        finite = [(v, e) for e, v in enumerate(series) if v is not None and math.isfinite(v)]
        if not finite:
            raise fail(f"{metric} was never a finite number")
        pick = min if self.direction == "minimize" else max
        value, epoch = pick(finite, key=lambda pair: pair[0])
        trial.set_user_attr("best_epoch", epoch + 1)
        return float(value)


def environment_error(exc: BaseException) -> bool:
    """Errors that do not depend on the trial's values (missing data, a backend that cannot run)."""
    from ..backends.base import BackendError
    from ..compiler.verify import IRError
    from ..runner.datasets.errors import DataError
    from ..runner.errors import RunnerError

    return isinstance(exc, (DataError, BackendError, IRError, RunnerError, FileNotFoundError, PermissionError))


__all__ = ["ATTRS", "DataCache", "environment_error", "PruningCallback", "TrialFailed", "TrialProgress", "TrialRunner", "worker_id"]
