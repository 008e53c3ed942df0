"""Commands that run models: train, resume, evaluate, predict."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import List, Optional

import typer

from .errors import EXIT_FAILURE, UsageError, UserError, exit_quickly_when_done, guarded
from .render import console, err_console

SPEC_ARG = typer.Argument(..., help="The spec file (.toml or .json).", show_default=False)
DEVICE_HELP = ("Device to run on: auto, cpu, cuda, cuda:N or mps (default: the spec's training.device, auto; "
               "the manifest records the concrete device).")
RUN_ARG = typer.Argument(
    ..., show_default=False,
    help="A run directory (runs/<model>/<time>-<backend>), a checkpoint or weights.npz inside one, or a saved model file.",
)


def _runner_errors(fn):
    """Report runner errors (bad shapes, missing run files…) as user errors."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..runner.errors import RunnerError

        try:
            return fn(*args, **kwargs)
        except RunnerError as exc:
            raise UserError(str(exc)) from None

    return wrapper


def train(
    spec: Path = SPEC_ARG,
    backend: str = typer.Option(..., "--backend", "-b", help="Backend to train with (see `dnnc backends`)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Number of epochs (same as --set training.epochs=N)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, batch order and dropout (same as --set training.seed=S)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for MNIST / Fashion-MNIST files."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<model>/<YYYYmmdd-HHMMSS>-<backend>)."),
    overrides: List[str] = typer.Option([], "--set", help="Override a spec value before validation, e.g. --set training.optimizer.learning_rate=0.01 (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but warnings, errors and the result."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per epoch on stdout, then one with the test metrics."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data sets."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run already in --out (its files are removed first)."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP + " Same as --set training.device=D."),
    compile_steps: bool = typer.Option(False, "--compile",
                                       help="Compile the training step (torch.compile; Keras: XLA), compiled before the "
                                            "first epoch; same as --set training.compile=true (not with strict parity)."),
) -> None:
    """Train a spec with one backend; write the run directory (history, metrics, curves, model, weights)."""
    from ..runner.api import train_spec

    if quiet and as_json:
        raise UsageError("--quiet and --json are exclusive")
    if compile_steps:
        overrides = [*overrides, "training.compile=true"]
    mode = "json" if as_json else ("quiet" if quiet else "rich")
    result = train_spec(spec, backend=backend, epochs=epochs, seed=seed, data_dir=data_dir, out=out, overrides=overrides,
                        progress=mode, download=not no_download, console=console, overwrite=overwrite, device=device)
    _report_result(result, quiet, as_json)


def resume(
    run: Path = typer.Argument(..., show_default=False, help="The run directory to continue (runs/<model>/<time>-<backend>)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Total number of epochs (more than the run had: train further, also after it completed)."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Continue with this backend instead of the run's own (checkpoints are canonical)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for MNIST / Fashion-MNIST files (default: the run's own)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but warnings, errors and the result."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per epoch on stdout, then one with the test metrics."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data sets."),
    device: Optional[str] = typer.Option(None, "--device", help="Continue on this device: auto, cpu, cuda, cuda:N or "
                                         "mps (default: the run's training.device, resolved again here)."),
) -> None:
    """Continue an interrupted run from its checkpoint (killed, Ctrl-C, crashed), ending exactly as the
    uninterrupted run would; or extend a finished one with --epochs."""
    from ..runner.resume import resume_run

    if quiet and as_json:
        raise UsageError("--quiet and --json are exclusive")
    mode = "json" if as_json else ("quiet" if quiet else "rich")
    result = resume_run(run, epochs=epochs, backend=backend, data_dir=data_dir, progress=mode,
                        download=not no_download, console=console, device=device)
    _report_result(result, quiet, as_json)


def _report_result(result, quiet: bool, as_json: bool) -> None:
    """The end of train and resume: the NaN failure (exit 1), the test metrics when quiet, the run directory.
    The run directory is complete and unlocked by now, so the process may end without the interpreter's
    shut-down (:func:`~dnnc.cli.errors.exit_quickly_when_done`)."""
    exit_quickly_when_done()
    report = err_console if as_json else console
    if result.status == "nan":
        err_console.print(f"[red]error[/red]: training stopped: the loss became NaN or infinite (run directory {result.run_dir})")
        raise typer.Exit(EXIT_FAILURE)
    if result.status == "diverged":
        err_console.print(f"[red]error[/red]: the training diverged: the loss became NaN or infinite at "
                          f"{result.diverged_at}; the run directory {result.run_dir} records it (status 'diverged')",
                          soft_wrap=True)
        raise typer.Exit(EXIT_FAILURE)
    if quiet and result.test_metrics:
        console.print("  ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items()))
    report.print(f"run directory: {result.run_dir}")


def evaluate(
    run: Path = RUN_ARG,
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for MNIST / Fashion-MNIST files."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Evaluate with this backend instead of the run's own."),
    split: str = typer.Option("test", "--split", help="test or validation."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download data sets."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
) -> None:
    """Evaluate a trained model on its spec's test (or validation) rows."""
    from ..runner.api import evaluate_run
    from ..runner.history import json_float

    metrics = evaluate_run(run, data_dir, backend=backend, split=split, download=not no_download, device=device)
    if as_json:
        typer.echo(json.dumps({k: json_float(v) for k, v in metrics.items()}))
        return
    from rich.table import Table

    table = Table(title=f"{split} metrics", title_justify="left")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, f"{v:.6f}")
    console.print(table)


def predict(
    run: Path = RUN_ARG,
    inputs: Path = typer.Argument(..., show_default=False, help="An .npz/.npy/.csv file, an image, or a directory of images."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Predict with this backend instead of the run's own."),
    top: int = typer.Option(3, "--top", help="Classes shown per row for softmax outputs."),
    as_json: bool = typer.Option(False, "--json", help="Print rows and outputs as JSON."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
) -> None:
    """Predict with a trained model: class probabilities (softmax/sigmoid outputs) or values."""
    import numpy as np

    from ..runner.api import predict as run_predict

    result = run_predict(run, inputs, backend=backend, device=device)
    if as_json:
        typer.echo(json.dumps({"rows": result.rows, "outputs": {k: v.tolist() for k, v in result.items()}}))
        return
    from rich.table import Table

    for name, values in result.items():
        head = result.heads[name]
        table = Table(title=f"Output {name!r} ({'probabilities' if head != 'linear' else 'values'})", title_justify="left")
        table.add_column("Row")
        if head == "softmax":
            table.add_column("Class", justify="right")
            table.add_column("Probability", justify="right")
            table.add_column(f"Top {top}")
            for row, p in zip(result.rows, values):
                order = np.argsort(-p, kind="stable")[:top]
                table.add_row(row, str(int(order[0])), f"{p[order[0]]:.4f}", ", ".join(f"{i}: {p[i]:.3f}" for i in order))
        elif head == "sigmoid":
            table.add_column("Probability", justify="right")
            table.add_column("Class (p > 0.5)", justify="right")
            for row, p in zip(result.rows, values):
                table.add_row(row, ", ".join(f"{x:.4f}" for x in p), ", ".join(str(int(x > 0.5)) for x in p))
        else:
            table.add_column("Value", justify="right")
            for row, v in zip(result.rows, values):
                table.add_row(row, ", ".join(f"{x:.6g}" for x in np.ravel(v)))
        console.print(table)


def register(app: typer.Typer) -> None:
    for command in (train, resume, evaluate, predict):
        app.command()(guarded(_runner_errors(command)))
