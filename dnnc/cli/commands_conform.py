"""`dnnc conform`: prove that backends build, compute and train the same model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .errors import UsageError, guarded
from .render import console, err_console

SPEC_ARG = typer.Argument(..., help="The spec file (.toml or .json).", show_default=False)
LEVEL_NAMES = ("structure", "numeric", "training")


def parse_levels(text: str) -> tuple[str, ...]:
    """``all`` or a comma-separated list of structure, numeric, training (in that order)."""
    parts = [p.strip().lower() for p in text.split(",") if p.strip()]
    if not parts:
        raise UsageError("--level needs a level: structure, numeric, training or all")
    if "all" in parts:
        return LEVEL_NAMES
    bad = [p for p in parts if p not in LEVEL_NAMES]
    if bad:
        raise UsageError(f"--level {bad[0]!r} is not a level (allowed: structure, numeric, training, all, "
                         "or a comma-separated list)")
    return tuple(lv for lv in LEVEL_NAMES if lv in parts)


MAX_SEEDS = 1000  # a count of training runs per backend; more is a typo, not a plan


def parse_seeds(text: Optional[str]) -> tuple[int, ...] | None:
    """``N`` → seeds 0 … N−1; ``a,b,c`` → those seeds; None → the spec's ``[conformance] seeds``."""
    from ..spec_schema.training import MAX_SEED

    if text is None:
        return None
    text = text.strip()
    try:
        if "," in text:
            seeds = tuple(int(s) for s in text.split(",") if s.strip())
        else:
            n = int(text)
            if not 1 <= n <= MAX_SEEDS:
                raise UsageError(f"--seeds must be a count from 1 to {MAX_SEEDS} (received {n})")
            seeds = tuple(range(n))
    except ValueError:
        raise UsageError(f"--seeds takes a count N (seeds 0…N−1) or a comma-separated list of seeds "
                         f"(received {text!r})") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds must be distinct non-negative integers (received {text!r})")
    if any(s > MAX_SEED for s in seeds):
        raise UsageError(f"--seeds: a seed must be at most {MAX_SEED} (received {text!r})")
    return seeds


class RichSink:
    """Conformance progress on a rich progress display (stderr): one bar per level, one for the running epoch."""

    def __init__(self, progress) -> None:
        self.progress = progress

    def start(self, description: str, total: float | None = None) -> Any:
        return self.progress.add_task(description, total=total)

    def advance(self, task: Any, amount: float = 1.0, description: str | None = None) -> None:
        if task is None:
            return
        if description is not None:
            self.progress.update(task, description=description)
        if amount:
            self.progress.advance(task, amount)

    def finish(self, task: Any) -> None:
        if task is not None:
            self.progress.remove_task(task)

    def training_progress(self, description: str):
        return EpochBar(self.progress, description)


class EpochBar:
    """A runner progress (duck-typed :class:`dnnc.runner.progress.Progress`) showing one training run's
    running epoch as a rich task."""

    def __init__(self, progress, description: str) -> None:
        self.progress, self.description = progress, description
        self.task = None
        self.epochs = 0

    def train_begin(self, context) -> None:
        self.epochs = context.epochs

    def epoch_begin(self, epoch: int, steps: int) -> None:
        text = f"  {self.description}: epoch {epoch + 1}/{self.epochs}"
        if self.task is None:
            self.task = self.progress.add_task(text, total=steps)
        else:
            self.progress.reset(self.task, total=steps, description=text)

    def batch_end(self, done: int, metrics: Callable[[], dict[str, float]]) -> None:
        if self.task is not None and done % 25 == 0:
            self.progress.update(self.task, completed=done)

    def epoch_end(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        pass

    def train_end(self, history) -> None:
        self.close()

    def message(self, text: str, level: str = "info") -> None:
        if level in ("warning", "error"):
            self.progress.console.print(f"{level}: {text}")

    def close(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None


def conform(
    spec: Path = SPEC_ARG,
    backends: str = typer.Option("keras,torch", "--backends", "-b",
                                 help="Comma-separated backends; the first is the reference. BACKEND@DEVICE runs one "
                                      "on a device, so one backend on two devices compares like two backends: "
                                      "torch@cpu,torch@cuda."),
    level: str = typer.Option("all", "--level", "-l",
                              help="structure, numeric, training, all, or a comma-separated list."),
    seeds: Optional[str] = typer.Option(None, "--seeds",
                                        help="Training level: seeds of the first look, N (seeds 0…N−1, N ≥ 2) or a "
                                             "list 0,1,2; later looks add the next seeds "
                                             "(default: the spec's conformance.seeds, 2)."),
    max_seeds: Optional[int] = typer.Option(None, "--max-seeds", min=2,
                                            help="Training level: seeds per backend after which an undecided "
                                                 "comparison is INCONCLUSIVE (default: the spec's "
                                                 "conformance.max_seeds, 20)."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", min=0.0,
                                              help="Training level: allowed accuracy difference in percentage points "
                                                   "(default: the spec's conformance.accuracy_tolerance, 0.5)."),
    drift_epochs: Optional[int] = typer.Option(None, "--drift-epochs", min=0,
                                               help="Training level: epochs of the float32 drift calibration per "
                                                    "seed, 0 for none (default: the spec's "
                                                    "conformance.drift_epochs, 1)."),
    drift_factor: Optional[float] = typer.Option(None, "--drift-factor", min=1.0,
                                                 help="Training level: largest allowed cross-backend drift / 1-ulp "
                                                      "control drift (default: the spec's "
                                                      "conformance.drift_factor, 10)."),
    interval: str = typer.Option("paired", "--interval",
                                 help="Training level: the verdict's interval, paired (per-seed differences) or welch."),
    strict: bool = typer.Option(False, "--strict",
                                help="Strict parity: dnnc draws the dropout masks, frameworks use deterministic kernels."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the JSON report to this file."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write a Markdown report to this file."),
    chart: Optional[Path] = typer.Option(None, "--chart", help="Write a PNG of every backend's learning curves "
                                                                "(training level)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Look for standard data sets here first."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Training level: epochs per run "
                                                                        "(default: the spec's)."),
    trajectory_steps: int = typer.Option(20, "--trajectory-steps", min=0,
                                         help="Numeric level: optimizer steps judged (then 4 epoch-end steps)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: --set training.batch_size=128 "
                                                          "(repeatable)."),
    device: Optional[str] = typer.Option(None, "--device",
                                         help="Device of every backend named without @DEVICE: auto, cpu, cuda, "
                                              "cuda:N or mps (default: the spec's training.device)."),
) -> None:
    """Check that backends build the same model (structure), compute the same numbers from the same
    weights (numeric) and reach the same test accuracy (training).

    Exit status: 0 PASS; 1 FAIL (a difference was found) or NOT JUDGED (a level could not run, e.g. its
    data set is missing); 3 INCONCLUSIVE (the training level reached
    --max-seeds seeds without deciding; the report says how many seeds would); 2 a usage or spec error."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..conformance.conform import run_conform
    from ..conformance.options import ConformOptions
    from ..conformance.report import print_report, write_chart, write_json, write_markdown
    from ..runner.api import compile_with_overrides
    from ..runner.resources import check_memory

    if interval not in ("paired", "welch"):
        raise UsageError(f"--interval must be paired or welch (received {interval!r})")
    levels = parse_levels(level)
    seed_list = parse_seeds(seeds)
    if seed_list is not None and len(seed_list) < 2:
        raise UsageError(f"--seeds needs at least 2 seeds for the first look, which estimates their spread "
                         f"(received {seeds!r})")
    if seed_list is not None and max_seeds is not None and max_seeds < len(seed_list):
        raise UsageError(f"--max-seeds ({max_seeds}) is below the {len(seed_list)} seeds of the first look "
                         f"(--seeds {seeds})")
    from ..backends.devices import check_device_name, split_qualified

    names = [b.strip() for b in backends.split(",") if b.strip()]
    if len(names) < 2:
        raise UsageError(f"--backends needs at least two backends, the first being the reference (received {backends!r})")
    for name in names:
        try:
            split_qualified(name)
        except ValueError as exc:
            raise UsageError(f"--backends {exc}") from None
    if device is not None:
        try:
            check_device_name(device, "--device")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if chart is not None and "training" not in levels:
        raise UsageError("--chart draws learning curves, which only the training level produces "
                         "(use --level training or all)")
    _, ir = compile_with_overrides(spec, overrides)
    cap = max_seeds if max_seeds is not None else ir.conformance["max_seeds"]
    if seed_list is not None and cap < len(seed_list):
        raise UsageError(f"--seeds gives {len(seed_list)} seeds for the first look, more than the spec's "
                         f"conformance.max_seeds ({cap}); raise the cap with --max-seeds")
    check_memory(ir, "build")  # before any backend allocates the model
    options = ConformOptions(levels=levels, seeds=seed_list, max_seeds=max_seeds, tolerance_pp=tolerance,
                             strict=strict, epochs=epochs, data_dir=data_dir, trajectory_steps=trajectory_steps,
                             interval=interval, drift_epochs=drift_epochs, drift_factor=drift_factor, device=device)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        result = run_conform(ir, names, options, spec_path=spec, progress=RichSink(bar))
    print_report(result, console)
    written = []
    if report is not None:
        written.append(write_json(result, report))
    if markdown is not None:
        written.append(write_markdown(result, markdown))
    if chart is not None:
        try:
            written.append(write_chart(result, chart))
        except ValueError as exc:
            err_console.print(f"[yellow]warning[/yellow]: no chart written: {exc}")
    for path in written:
        console.print(f"wrote {path}")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command()(guarded(conform))
