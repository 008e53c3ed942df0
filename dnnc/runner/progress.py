"""What the runner shows while training: rich bars, one JSON line per epoch, or nothing.

* :class:`RichProgress`: a bar per epoch (steps, elapsed, ETA, running loss
  and metrics) redrawn at most ``refresh_per_second`` times (no background
  thread: the loop redraws when enough time has passed, so a step costs one
  clock read), a summary line per epoch and a final table.
* :class:`JsonProgress`: one JSON object per epoch on stdout
  (``{"epoch": 1, "epochs": 5, "loss": …, "val_loss": …, "seconds": …}``, 1-based
  epochs; NaN and infinities as the strings "NaN", "Infinity"), then one last
  line with the test metrics (``{"test_loss": …, "test_accuracy": …}``; ``{}``
  without test rows).  Messages go to stderr.
* :class:`QuietProgress`: nothing but warnings and errors, on stderr.

A reporter learns about the run from the :class:`~dnnc.runner.context.TrainingContext`
given to :meth:`Progress.train_begin` (the same object the callbacks see) and
receives the messages of :meth:`TrainingContext.message <dnnc.runner.context.TrainingContext.message>`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Callable

from .history import History, json_float

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from .context import TrainingContext


def _on_device(model) -> str:
    """`` on cuda:0`` for a model on another device than the CPU (the CPU says nothing, as before devices)."""
    device = getattr(model, "device", None)
    return f" on {device}" if device not in (None, "cpu") else ""


class Progress:
    """The interface the loop reports to (every method may be a no-op)."""

    def train_begin(self, context: "TrainingContext") -> None:
        pass

    def epoch_begin(self, epoch: int, steps: int) -> None:
        pass

    def batch_end(self, done: int, metrics: Callable[[], dict[str, float]]) -> None:
        """``done`` steps of the epoch are finished; ``metrics()`` gives the running values (call it sparingly)."""

    def epoch_end(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        pass

    def train_end(self, history: History) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        pass

    def close(self) -> None:
        pass


class QuietProgress(Progress):
    def message(self, text: str, level: str = "info") -> None:
        if level in ("warning", "error"):
            print(f"{level}: {text}", file=sys.stderr, flush=True)


class JsonProgress(Progress):
    def __init__(self, stream=None) -> None:
        self.stream = stream
        self.epochs = 0

    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def _line(self, record: dict) -> None:
        out = self._out()
        out.write(json.dumps(record, allow_nan=False) + "\n")
        out.flush()

    def train_begin(self, context: "TrainingContext") -> None:
        self.epochs = context.epochs

    def epoch_end(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        record = {"epoch": epoch + 1, "epochs": self.epochs}
        record.update({k: json_float(v) for k, v in logs.items()})
        record["seconds"] = round(seconds, 4)
        self._line(record)

    def train_end(self, history: History) -> None:
        self._line({k: json_float(v) for k, v in history.test.items()})

    def message(self, text: str, level: str = "info") -> None:
        print(f"{level}: {text}", file=sys.stderr, flush=True)


def format_value(value: float | None) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3e}"
    return f"{value:.4f}"


def format_logs(logs: dict[str, float], keys: list[str] | None = None) -> str:
    return "  ".join(f"{k} {format_value(logs.get(k))}" for k in (keys or logs))


class RichProgress(Progress):
    """Bars and tables with rich on ``console`` (default: a new stdout Console)."""

    def __init__(self, console: "Console | None" = None, refresh_per_second: float = 10.0, max_table_rows: int = 30) -> None:
        from ..console import make_console

        self.console = console or make_console()
        self.interval = 1.0 / refresh_per_second
        self.max_table_rows = max_table_rows
        self._bar = None
        self._task = None
        self._last = 0.0
        self.epochs = 0
        self.steps = 0

    def train_begin(self, context: "TrainingContext") -> None:
        c = context
        self.epochs = c.epochs
        parts = [f"{c.train_rows:,} training rows"]
        if c.validation_rows is not None:
            parts.append(f"{c.validation_rows:,} validation")
        if c.test_rows is not None:
            parts.append(f"{c.test_rows:,} test")
        self.console.print(
            f"Training [bold]{c.ir.name}[/bold] with [bold]{getattr(c.model, 'backend_name', '?')}[/bold]"
            f"{_on_device(c.model)}: "
            f"{', '.join(parts)}; batch {c.batch_size}, {c.steps_per_epoch} steps/epoch, "
            f"epochs {c.start_epoch + 1}–{c.epochs}, seed {c.seed}"
            + (", strict parity" if c.strict_parity else "")
        )

    def epoch_begin(self, epoch: int, steps: int) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.steps = steps
        self._last = time.perf_counter()
        if not self.console.is_interactive:
            return  # no animation in logs, pipes or captured output: the epoch line says it all
        self._bar = Bars(
            TextColumn(f"Epoch {epoch + 1}/{self.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
            transient=True,
            auto_refresh=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("epoch", total=steps, metrics="")

    def batch_end(self, done: int, metrics: Callable[[], dict[str, float]]) -> None:
        if self._bar is None:
            return
        now = time.perf_counter()
        if now - self._last < self.interval and done != self.steps:
            return
        self._last = now
        if self._bar is not None:
            self._bar.update(self._task, completed=done, metrics=format_logs(metrics()))
            self._bar.refresh()

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def epoch_end(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        self._stop_bar()
        self.console.print(f"Epoch {epoch + 1}/{self.epochs}  {seconds:.1f}s  {format_logs(logs)}", soft_wrap=True)

    def train_end(self, history: History) -> None:
        from rich.table import Table

        self._stop_bar()
        if history.epochs:
            keys = list(history.history)
            table = Table(title="Training history", title_justify="left")
            table.add_column("Epoch", justify="right")
            for key in keys:
                table.add_column(key, justify="right")
            table.add_column("Time", justify="right")
            rows = list(range(len(history.epochs)))
            if len(rows) > self.max_table_rows:
                rows = rows[-self.max_table_rows:]
                table.caption = f"last {self.max_table_rows} of {len(history.epochs)} epochs"
            for i in rows:
                table.add_row(str(history.epochs[i] + 1), *(format_value(history.history[k][i]) for k in keys),
                              f"{history.epoch_seconds[i]:.1f}s")
            self.console.print(table)
        if history.stop_reason:
            self.console.print(f"Stopped after epoch {history.stopped_epoch + 1}: {history.stop_reason.replace('_', ' ')}")
        if history.test:
            self.console.print("[bold]Test[/bold]  " + format_logs(history.test))

    def message(self, text: str, level: str = "info") -> None:
        from rich.markup import escape

        style = {"warning": "yellow", "error": "red"}.get(level)
        text = escape(text)
        target = self._bar.console if self._bar is not None else self.console
        target.print(f"[{style}]{level}[/{style}]: {text}" if style else text, soft_wrap=True)

    def close(self) -> None:
        self._stop_bar()


class TextLogProgress(Progress):
    """A plain-text log of the run (``train.log`` in the run directory): epoch lines, messages, the test metrics."""

    def __init__(self, path) -> None:
        from pathlib import Path

        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")
        self.epochs = 0

    def _write(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._file.write(f"{stamp} {text}\n")
        self._file.flush()

    def train_begin(self, context: "TrainingContext") -> None:
        c = context
        self.epochs = c.epochs
        self._write(f"training {c.ir.name} with {getattr(c.model, 'backend_name', '?')}{_on_device(c.model)}: "
                    f"{c.train_rows} rows, batch {c.batch_size}, {c.steps_per_epoch} steps/epoch, "
                    f"epochs {c.start_epoch + 1}-{c.epochs}, seed {c.seed}")

    def epoch_end(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        self._write(f"epoch {epoch + 1}/{self.epochs} {seconds:.2f}s {format_logs(logs)}")

    def train_end(self, history: History) -> None:
        if history.stop_reason:
            self._write(f"stopped after epoch {history.stopped_epoch + 1}: {history.stop_reason}")
        self._write("test " + (format_logs(history.test) if history.test else "(no test rows)"))

    def message(self, text: str, level: str = "info") -> None:
        self._write(f"{level}: {text}")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class TeeProgress(Progress):
    """Reports to several reporters in turn."""

    def __init__(self, *reporters: Progress) -> None:
        self.reporters = reporters

    def train_begin(self, context):
        for r in self.reporters:
            r.train_begin(context)

    def epoch_begin(self, epoch, steps):
        for r in self.reporters:
            r.epoch_begin(epoch, steps)

    def batch_end(self, done, metrics):
        for r in self.reporters:
            r.batch_end(done, metrics)

    def epoch_end(self, epoch, logs, seconds):
        for r in self.reporters:
            r.epoch_end(epoch, logs, seconds)

    def train_end(self, history):
        for r in self.reporters:
            r.train_end(history)

    def message(self, text, level="info"):
        for r in self.reporters:
            r.message(text, level)

    def close(self):
        for r in self.reporters:
            r.close()


def make_progress(mode: str, console: "Console | None" = None) -> Progress:
    """``"rich"``, ``"quiet"`` or ``"json"``."""
    if mode == "rich":
        return RichProgress(console)
    if mode == "quiet":
        return QuietProgress()
    if mode == "json":
        return JsonProgress()
    raise ValueError(f"progress must be 'rich', 'quiet' or 'json' (received {mode!r})")
