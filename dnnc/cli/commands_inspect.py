"""`dnnc inspect`: per-layer activation and gradient histograms and statistics (docs/inspect.md)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .commands_run import _runner_errors
from .errors import EXIT_FAILURE, UsageError, guarded
from .render import console

TARGET_ARG = typer.Argument(..., show_default=False,
                            help="A spec file (.toml or .json), or a run directory (its final weights).")


def inspect(
    target: Path = TARGET_ARG,
    backend: Optional[str] = typer.Option(None, "--backend", "-b",
                                          help="Backend to measure with (default for a run directory: its own)."),
    backends: Optional[str] = typer.Option(None, "--backends",
                                           help="Comma-separated backends, measured from the same weights and rows, "
                                                "drawn side by side and checked to agree (the first is the reference)."),
    weights: Optional[str] = typer.Option(None, "--weights",
                                          help="initial (the spec's initial weights; default for a spec), or a run "
                                               "directory / weights .npz whose final weights to use."),
    split: str = typer.Option("train", "--split", help="Rows to measure: train, validation or test."),
    rows: int = typer.Option(1000, "--rows", min=1, help="Measure the first N rows of the split (all if fewer)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Output directory (default inspect/<model> for a spec, "
                                            "RUN_DIR/inspect for a run)."),
    pre_activations: bool = typer.Option(False, "--pre-activations",
                                         help="Also the values before each activation function."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for MNIST / "
                                                                     "Fashion-MNIST files."),
    overrides: List[str] = typer.Option([], "--set", help="Override a spec value, e.g. --set training.seed=1 "
                                                          "(repeatable; specs only)."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data sets."),
) -> None:
    """Per-layer activations, gradients and weights: histogram grids (PNG), stats.json and a table.
    With --backends, exit 1 when the backends disagree."""
    from ..inspection.report import print_report
    from ..inspection.run import inspect_target, is_run_dir

    if backend is not None and backends is not None:
        raise UsageError("--backend and --backends are exclusive (--backends A,B compares several)")
    names = None
    if backends is not None:
        names = [b.strip() for b in backends.split(",") if b.strip()]
        if len(names) < 2:
            raise UsageError(f"--backends needs at least two backends, the first being the reference "
                             f"(received {backends!r}); use --backend for one")
    elif backend is not None:
        names = [backend]
    elif not is_run_dir(target):
        raise UsageError("name a backend: --backend B, or --backends A,B to compare several "
                         "(a run directory defaults to its own)")
    result = inspect_target(target, backends=names, weights=weights, split=split, rows=rows, out=out,
                            pre_activations=pre_activations, data_dir=data_dir, download=not no_download,
                            overrides=overrides)
    print_report(result, console)
    for path in result.files.values():
        console.print(f"wrote {path}")
    if result.verdict == "FAIL":
        raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    app.command()(guarded(_runner_errors(inspect)))
