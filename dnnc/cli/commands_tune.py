"""Commands that search: `dnnc tune` (a hyperparameter study) and `dnnc lr-find` (the learning-rate sweep)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .commands_run import SPEC_ARG, _runner_errors
from .errors import EXIT_FAILURE, UsageError, guarded
from .render import console, err_console

SAMPLERS = ("random", "tpe", "grid")


def tune(
    spec: Path = SPEC_ARG,
    backend: str = typer.Option(..., "--backend", "-b", help="Backend every trial trains with (see `dnnc backends`)."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Trials this run adds to the study (default: search.trials)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes on this machine, sharing the trials."),
    storage: Optional[str] = typer.Option(None, "--storage", help="SQLAlchemy URL (e.g. postgresql://user@host/db) or a journal file path; default: <out>/study.journal."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the model name); runs with the same storage and name share one study."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0, help="Start no trial after this many seconds."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="random, tpe or grid (default: search.sampler)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory (default runs/<model>/<YYYYmmdd-HHMMSS>-tune-<backend>)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for standard data sets."),
    heartbeat: int = typer.Option(60, "--heartbeat", min=1, help="Seconds between heartbeats of a running trial (database storage); a trial silent for twice that is failed and retried."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines, only the results."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data sets."),
) -> None:
    """Search the spec's [search] space with Optuna: every trial trains through the shared runner."""
    from ..tune.run import tune as run_tune

    if sampler is not None and sampler not in SAMPLERS:
        raise UsageError(f"--sampler must be one of {', '.join(SAMPLERS)} (received {sampler!r})")
    result = run_tune(spec, backend=backend, trials=trials, workers=workers, storage=storage, study=study,
                      timeout=timeout, sampler=sampler, out=out, data_dir=data_dir, download=not no_download,
                      heartbeat=heartbeat, console=console, quiet=quiet)
    console.print(result.table())
    counts = ", ".join(f"{n} {state}" for state, n in _counts(result.rows).items())
    console.print(f"study {result.study_name!r} ({result.storage}): {len(result.rows)} trials ({counts}); "
                  f"this run: {result.trials_run} trials in {result.seconds:.1f} s with {workers} worker(s)")
    if result.best is not None:
        console.print(f"best: trial #{result.best.number}, {result.plan.metric} {result.best.value:.6g} "
                      f"(epoch {result.best.best_epoch})")
        console.print(f"best spec: {result.best_spec}  (dnnc train {result.best_spec} --backend {backend})")
    for name, reason in result.skipped_plots.items():
        console.print(f"plot {name} skipped: {reason}")
    console.print(f"output directory: {result.out_dir}")
    for error in result.errors:
        err_console.print(f"[red]error[/red]: {error}")
    if result.errors:
        raise typer.Exit(EXIT_FAILURE)


def _counts(rows) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state.lower()] = counts.get(r.state.lower(), 0) + 1
    return counts


def register(app: typer.Typer) -> None:
    app.command()(guarded(_runner_errors(tune)))
