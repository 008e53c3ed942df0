"""Commands that search: `dnnc tune` (a hyperparameter study) and `dnnc lr-find` (the learning-rate sweep)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

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
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Sampler seed (default: search.seed); give each machine of a shared study its own."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory (default runs/<model>/<YYYYmmdd-HHMMSS>-tune-<backend>)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for standard data sets."),
    heartbeat: int = typer.Option(60, "--heartbeat", min=1, help="Seconds between heartbeats of a running trial (database storage); a trial silent for twice that is failed and retried."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines, only the results."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data sets."),
) -> None:
    r"""Search the spec's \[search] space with Optuna: every trial trains through the shared runner (docs/tuning.md)."""
    from ..tune.run import tune as run_tune

    if sampler is not None and sampler not in SAMPLERS:
        raise UsageError(f"--sampler must be one of {', '.join(SAMPLERS)} (received {sampler!r})")
    result = run_tune(spec, backend=backend, trials=trials, workers=workers, storage=storage, study=study,
                      timeout=timeout, sampler=sampler, seed=seed, out=out, data_dir=data_dir, download=not no_download,
                      heartbeat=heartbeat, console=console, quiet=quiet)
    console.print(result.table())
    counts = ", ".join(f"{n} {state}" for state, n in result.counts.items())
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


def lr_find(
    spec: Path = SPEC_ARG,
    backend: str = typer.Option(..., "--backend", "-b", help="Backend to sweep with (see `dnnc backends`)."),
    start: float = typer.Option(1e-6, "--start", min=0, help="Learning rate of the first step."),
    end: float = typer.Option(10.0, "--end", min=0, help="Learning rate of the last step."),
    steps: int = typer.Option(500, "--steps", min=2, help="Training steps of the sweep (the rate grows exponentially)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory (default runs/<model>/<YYYYmmdd-HHMMSS>-lr-find-<backend>)."),
    overrides: List[str] = typer.Option([], "--set", help="Override a spec value before validation (repeatable)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for standard data sets."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data sets."),
) -> None:
    """The learning-rate sweep: plot the smoothed loss against a growing rate and suggest a rate."""
    from ..runner.lr_find import lr_find_spec

    if not start < end:
        raise UsageError(f"--start must be smaller than --end (received {start:g} and {end:g})")
    run = lr_find_spec(spec, backend=backend, start=start, end=end, steps=steps, out=out, overrides=overrides,
                       data_dir=data_dir, download=not no_download)
    result = run.result
    how = ("stopped early: the loss exploded" if result.stopped == "exploded" else "every step ran")
    console.print(f"swept {len(result.learning_rates)} of {steps} steps from {start:g} to "
                  f"{result.learning_rates[-1]:.3g} ({how})")
    if result.suggestion is None:
        console.print("no suggestion: fewer than 10 steps were recorded before the loss exploded "
                      "(lower --start or raise --steps)")
    else:
        console.print(f"lowest smoothed loss at learning rate {result.min_loss_rate:.3g}")
        console.print(f"suggested learning rate: {result.suggestion:.3g}  (rule: {result.rule})")
    console.print(f"plot: {run.files['plot']}  data: {run.files['json']}")


def register(app: typer.Typer) -> None:
    app.command()(guarded(_runner_errors(tune)))
    app.command("lr-find")(guarded(_runner_errors(lr_find)))
