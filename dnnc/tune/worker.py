"""A worker: one long-lived process that runs trial after trial against the study.

The framework is imported and the data loaded by the first trial of a worker;
later trials reuse both (:class:`dnnc.tune.trial.DataCache`), so the per-trial
cost is building the model, training it and writing its run directory
(benchmarks/tune_overhead.py measures it).

The trials of one ``dnnc tune`` run are counted by :class:`Tickets`, shared by
its workers: each takes a ticket before asking the study for a trial, so the
run adds exactly ``--trials`` trials however many workers share them, and the
ticket of a trial whose worker died is handed back.  No ticket is taken after
the ``--timeout`` deadline (a running trial is not interrupted) or once a grid
is exhausted.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .samplers import make_pruner, make_sampler, quiet_optuna
from .storage import DEFAULT_HEARTBEAT, open_storage
from .trial import TrialFailed, TrialRunner

if TYPE_CHECKING:  # pragma: no cover
    from .space import Param

Emit = Callable[[dict], None]


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs (plain data: it is sent to spawned processes)."""

    params: list["Param"]
    metric: str
    direction: str
    epochs: int
    spec_path: str
    backend: str
    out_dir: str
    study_name: str
    storage: str | None = None
    sampler: str = "random"
    pruner: str = "none"
    seed: int = 0
    deadline: float | None = None
    """``time.time()`` after which no trial starts (``--timeout``)."""
    heartbeat: int = DEFAULT_HEARTBEAT
    data_dir: str | None = None
    download: bool = True


class Tickets:
    """``total`` trial tickets shared by the workers of one run (a ``multiprocessing.Value`` when shared)."""

    def __init__(self, total: int, shared=None) -> None:
        self.total = total
        self.value = shared if shared is not None else _LocalValue()

    @classmethod
    def shared(cls, total: int, context) -> "Tickets":
        return cls(total, context.Value("i", 0))

    def take(self) -> int | None:
        """The next ticket's ordinal (1-based), or None when all are taken."""
        with self.value.get_lock():
            if self.value.value >= self.total:
                return None
            self.value.value += 1
            return self.value.value

    def give_back(self) -> None:
        with self.value.get_lock():
            self.value.value = max(0, self.value.value - 1)

    @property
    def taken(self) -> int:
        return self.value.value


class _LocalValue:
    def __init__(self) -> None:
        import threading

        self.value = 0
        self._lock = threading.Lock()

    def get_lock(self):
        return self._lock


def run_worker(config: WorkerConfig, index: int, tickets: Tickets, emit: Emit) -> int:
    """Run trials until the tickets, the time or the grid run out; returns the number of trials this worker ran."""
    import optuna

    quiet_optuna()
    storage = open_storage(config.storage, Path(config.out_dir), heartbeat=config.heartbeat)
    sampler = make_sampler(config.sampler, config.params, config.seed + index)
    study = optuna.load_study(study_name=config.study_name, storage=storage, sampler=sampler,
                              pruner=make_pruner(config.pruner, config.epochs))
    runner = TrialRunner(config.params, metric=config.metric, direction=config.direction,
                         spec_path=config.spec_path, backend=config.backend, out_dir=config.out_dir,
                         data_dir=config.data_dir, download=config.download, emit=emit)

    def ended(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        emit({"event": "trial_end", "trial": trial.number, "ordinal": runner.ordinal, "state": trial.state.name,
              "value": trial.value if trial.state == optuna.trial.TrialState.COMPLETE else _last(trial),
              "reason": trial.user_attrs.get("fail_reason") or _pruned(trial)})

    ran = 0
    while True:
        if config.deadline is not None and time.time() >= config.deadline:
            break
        if config.sampler == "grid" and sampler.is_exhausted(study):
            emit({"event": "info", "text": "the grid is exhausted: every combination has run"})
            break
        ordinal = tickets.take()
        if ordinal is None:
            break
        runner.ordinal = ordinal
        study.optimize(runner, n_trials=1, catch=(TrialFailed,), callbacks=[ended])
        ran += 1
    return ran


def _last(trial) -> float | None:
    if not trial.intermediate_values:
        return None
    return trial.intermediate_values[max(trial.intermediate_values)]


def _pruned(trial) -> str | None:
    at = trial.user_attrs.get("pruned_at")
    return f"pruned after epoch {at}" if at else None


def worker_main(config: WorkerConfig, index: int, tickets: Tickets, queue: Any) -> None:
    """Entry point of a spawned worker process: events go to ``queue``; errors are sent, then exit 1."""
    def emit(event: dict) -> None:
        queue.put(dict(event, worker=index))

    try:
        run_worker(config, index, tickets, emit)
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as exc:  # reported to the parent, which prints it
        emit({"event": "error", "text": describe_error(exc)})
        sys.exit(1)
    finally:
        queue.put({"event": "worker_done", "worker": index})


def describe_error(exc: BaseException) -> str:
    """One line for a worker's fatal error (spec errors rendered like the CLI does)."""
    from ..compiler.errors import SpecError

    from .trial import environment_error

    if isinstance(exc, SpecError):
        return "; ".join(i.render() for i in exc.issues)
    if environment_error(exc):
        return str(exc)
    text = f"internal error: {type(exc).__name__}: {exc} (a bug in dnnc or a plugin; rerun with DNNC_DEBUG=1)"
    if os.environ.get("DNNC_DEBUG"):
        text += "\n" + "".join(traceback.format_exception(exc))
    return text


def spawn_context():
    """Workers are spawned (fresh interpreters), never forked: TensorFlow and PyTorch are not fork-safe."""
    return multiprocessing.get_context("spawn")


__all__ = ["Tickets", "WorkerConfig", "describe_error", "run_worker", "spawn_context", "worker_main"]
