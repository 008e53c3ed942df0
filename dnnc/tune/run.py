"""`dnnc tune`: check the search, open the study, run the workers, write the results.

    from dnnc.tune import tune
    result = tune("examples/housing_search.toml", backend="torch", trials=20, workers=2)
    result.best.value, result.best_spec          # the best trial and its best.toml

The output directory (``--out``, default ``runs/<model>/<YYYYmmdd-HHMMSS>-tune-<backend>``):

==============================  ============================================================
``study.journal``               the study (embedded storage; absent with ``--storage URL``)
``trials/<number>/``            each trial's run directory (as ``dnnc train`` writes it)
``results.csv``, ``results.json``  every trial, best first (:mod:`dnnc.tune.results`)
``best.toml``                   the spec with the best trial's values (:mod:`dnnc.tune.best`)
``*.png``                       optimization history, parameter importances, slice plot
==============================  ============================================================

Running ``dnnc tune`` again with the same ``--out`` (embedded storage) or the
same ``--storage`` and ``--study`` adds ``--trials`` more trials to the study;
the results and plots then cover every trial of the study.
"""

from __future__ import annotations

import queue as queue_module
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runner.checksums import sha256_file
from ..runner.errors import RunnerError
from ..runner.records import default_run_dir
from .best import best_file_name, write_best_spec
from .check import SearchPlan, check_search
from .plots import write_plots
from .progress import TuneDisplay
from .results import TrialRow, results_table, trial_rows, write_results
from .samplers import grid_size, quiet_optuna
from .storage import DEFAULT_HEARTBEAT, describe, fail_trials_of_dead_workers, is_url, open_storage, with_retries
from .worker import Tickets, WorkerConfig, run_worker, spawn_context, worker_main


class TuneError(RunnerError):
    """The study cannot be run as asked (another study's direction or metric, every worker failed…)."""


@dataclass
class TuneResult:
    """What :func:`tune` returns."""

    out_dir: Path
    study_name: str
    storage: str
    plan: SearchPlan
    rows: list[TrialRow]
    best: TrialRow | None
    best_spec: Path | None
    files: dict[str, Path] = field(default_factory=dict)
    skipped_plots: dict[str, str] = field(default_factory=dict)
    trials_run: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Trials of the study per state (``{"complete": 18, "pruned": 2}``), in the order of the rows."""
        return _counts(self.rows)

    def table(self, limit: int = 15):
        return results_table(self.rows, self.plan.params, self.plan.metric, limit=limit)


def tune(spec_path: str | Path, *, backend: str, trials: int | None = None, workers: int = 1,
         storage: str | None = None, study: str | None = None, timeout: float | None = None,
         sampler: str | None = None, seed: int | None = None, out: str | Path | None = None,
         data_dir: str | Path | None = None,
         download: bool = True, heartbeat: int = DEFAULT_HEARTBEAT, console=None, quiet: bool = False) -> TuneResult:
    """Run (or extend) the study of ``spec_path``'s ``[search]``; see the module docstring."""
    import optuna

    from ..compiler.source import load_source
    from ..console import make_console
    from ..runner.api import get_backend

    started = time.perf_counter()
    spec_path = Path(spec_path)
    plan = check_search(load_source(spec_path), sampler=sampler, trials=trials, seed=seed)
    from ..backends.base import check_supported
    from ..backends.devices import place, requested_device

    chosen = get_backend(backend)
    check_supported(chosen, plan.ir)
    if requested_device(plan.ir) not in ("auto", "cpu"):  # a GPU asked for: check it is here before any trial
        place(chosen, requested_device(plan.ir))  # (imports the framework, which auto and cpu need not do here)
    search = plan.search
    total = search.trials
    if search.sampler == "grid":
        total = min(total, grid_size(plan.params))
    name = study or plan.ir.name
    out_dir = Path(out) if out is not None else default_run_dir(plan.ir.name, f"tune-{backend}")
    out_dir.mkdir(parents=True, exist_ok=True)
    console = console or make_console()

    quiet_optuna()
    store = open_storage(storage, out_dir, heartbeat=heartbeat)
    the_study = with_retries(lambda: optuna.create_study(study_name=name, storage=store, direction=plan.direction,
                                                         load_if_exists=True))
    _check_same_search(the_study, plan, name, describe(storage, out_dir))
    display = TuneDisplay(console, total=total, metric=plan.metric, direction=plan.direction,
                          best=_best_so_far(the_study), quiet=quiet)
    if not is_url(storage):
        for number, again in fail_trials_of_dead_workers(the_study, store):
            display({"event": "message", "level": "warning",
                     "text": f"trial #{number} was left running by a worker that is gone: marked failed"
                             + (f", retried as #{again}" if again is not None else "")})
    config = WorkerConfig(params=plan.params, metric=plan.metric, direction=plan.direction,
                          epochs=plan.ir.training.epochs, spec_path=str(spec_path), backend=backend,
                          out_dir=str(out_dir), study_name=name, storage=storage, sampler=search.sampler,
                          pruner=search.pruner, seed=search.seed, heartbeat=heartbeat,
                          deadline=None if timeout is None else time.time() + timeout,
                          data_dir=None if data_dir is None else str(data_dir), download=download)
    errors: list[str] = []
    ran = 0
    try:
        if workers <= 1:
            ran = run_worker(config, 0, Tickets(total), display)
        else:
            ran, errors = _run_processes(config, workers, total, display, the_study, store)
    finally:
        display.close()
        result = _finish(the_study, plan, out_dir, name, describe(storage, out_dir), backend=backend,
                         workers=workers, seconds=time.perf_counter() - started)
    result.trials_run, result.errors = ran, errors
    if errors and ran == 0:
        raise TuneError("; ".join(errors))
    return result


def _check_same_search(study, plan: SearchPlan, name: str, where: str) -> None:
    direction = study.direction.name.lower()
    if direction != plan.direction:
        raise TuneError(f"study {name!r} in the {where} {direction}s its value, but this spec's [search] "
                        f"{plan.direction}s {plan.metric!r}: use another --study name")
    metric = study.user_attrs.get("metric")
    if metric is None:
        study.set_user_attr("metric", plan.metric)
    elif metric != plan.metric:
        raise TuneError(f"study {name!r} in the {where} optimizes {metric!r}, but this spec's [search] optimizes "
                        f"{plan.metric!r}: use another --study name")


def _best_so_far(study) -> tuple[float, int] | None:
    import optuna

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if not done:
        return None
    return study.best_value, study.best_trial.number


def _run_processes(config: WorkerConfig, workers: int, total: int, display, study, store) -> tuple[int, list[str]]:
    """``workers`` spawned worker processes sharing ``total`` tickets; events shown as they come.

    A worker that dies (killed, out of memory) has its running trial failed and retried, its ticket
    handed back, and — while tickets are left — a replacement worker started (at most ``workers``
    replacements), so the run still adds ``total`` trials.
    """
    context = spawn_context()
    tickets = Tickets.shared(total, context)
    events = context.Queue()
    procs: dict[int, Any] = {}

    def start(w: int) -> None:
        procs[w] = context.Process(target=worker_main, args=(config, w, tickets, events),
                                   name=f"dnnc-tune-worker-{w}", daemon=False)
        procs[w].start()

    for w in range(workers):
        start(w)
    finished: set[int] = set()
    errors: list[str] = []
    replacements = 0

    def handle(event: dict[str, Any]) -> None:
        if event["event"] == "worker_done":
            finished.add(event["worker"])
            return
        if event["event"] == "error":
            errors.append(f"worker {event.get('worker')}: {event['text']}")
        display(event)

    try:
        checked = time.monotonic()
        while len(finished) < len(procs):
            try:
                handle(events.get(timeout=0.5))
            except queue_module.Empty:
                pass
            if time.monotonic() - checked < 0.5:
                continue  # look at the processes twice a second, however many events arrive
            checked = time.monotonic()
            for w, p in list(procs.items()):
                if w in finished or p.is_alive():
                    continue
                _drain(events, handle)
                if w in finished:
                    continue
                finished.add(w)
                lost = fail_trials_of_dead_workers(study, store, pid=p.pid)
                for _ in lost:
                    tickets.give_back()
                text = f"worker {w} (pid {p.pid}) died (exit code {p.exitcode})"
                text += "".join(f"; its trial #{n} is marked failed" + (f" and retried as #{r}" if r is not None else "")
                                for n, r in lost)
                if tickets.taken < total and replacements < workers:
                    replacements += 1
                    start(max(procs) + 1)
                    text += f"; worker {max(procs)} replaces it"
                display({"event": "message", "level": "warning", "text": text})
        _drain(events, handle)
    finally:
        for p in procs.values():
            p.join()
    return tickets.taken, errors


def _drain(events, handle) -> None:
    while True:
        try:
            handle(events.get_nowait())
        except queue_module.Empty:
            return


def _finish(study, plan: SearchPlan, out_dir: Path, name: str, where: str, *, backend: str, workers: int,
            seconds: float) -> TuneResult:
    """Results table, best.toml and plots for every trial of the study."""
    trials = study.get_trials(deepcopy=False)
    rows = trial_rows(trials, plan.params, plan.direction)
    best = rows[0] if rows and rows[0].state == "COMPLETE" else None
    best_spec = None
    if best is not None:
        values = {p.key: best.params[p.key] for p in plan.params if p.key in best.params}
        header = [f"The best trial of study {name!r} (dnnc tune, backend {backend}): #{best.number}, "
                  f"{plan.metric} = {best.value!r} at epoch {best.best_epoch}.",
                  "Searched values: " + ", ".join(f"{k} = {v!r}" for k, v in values.items()) + ".",
                  f"Train it again: dnnc train {out_dir / best_file_name(plan.source)} --backend {backend} (same seed: same value)."]
        best_spec = write_best_spec(plan.source, [p for p in plan.params if p.key in values], values, out_dir,
                                    name=plan.ir.name, header=header)
    summary = {"study": name, "storage": where, "spec": str(plan.source.path),
               "spec_sha256": sha256_file(plan.source.path) if plan.source.path else None, "backend": backend,
               "metric": plan.metric, "direction": plan.direction, "sampler": plan.search.sampler,
               "pruner": plan.search.pruner, "seed": plan.search.seed, "workers": workers,
               "wall_seconds": round(seconds, 3), "counts": _counts(rows),
               "best": best.to_dict() if best is not None else None,
               "best_spec": str(best_spec) if best_spec else None}
    files = write_results(out_dir, rows, plan.params, summary)
    plots, skipped = write_plots(study, out_dir, metric=plan.metric)
    files.update(plots)
    if best_spec is not None:
        files["best_spec"] = best_spec
    return TuneResult(out_dir=out_dir, study_name=name, storage=where, plan=plan, rows=rows, best=best,
                      best_spec=best_spec, files=files, skipped_plots=skipped, seconds=seconds)


def _counts(rows: list[TrialRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state.lower()] = counts.get(r.state.lower(), 0) + 1
    return counts


__all__ = ["TuneError", "TuneResult", "tune"]
