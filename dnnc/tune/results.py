"""The results of a study: one row per trial, best first; written as CSV and JSON, printed with rich.

Order: completed trials by value (best first), then pruned, failed, running and
waiting trials, each by number.  Columns: ``number``, ``state``, ``value`` (the
trial's value: its best epoch's metric; for a pruned trial its last reported
value), ``best_epoch``, ``epochs_run``, one column per parameter (the spec
value, as TOML text for tables and arrays), ``seconds``, ``reason`` (why it
failed or was pruned), ``retry_of`` (the trial it retries), ``worker`` and
``run_dir``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runner.history import json_float
from ..runner.progress import format_value
from ..runner.records import dump_json
from .space import Param, Scalar, spec_values
from .toml_values import toml_value

if TYPE_CHECKING:  # pragma: no cover
    import optuna

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    best_epoch: int | None
    epochs_run: int | None
    seconds: float | None
    reason: str | None
    retry_of: int | None
    worker: str | None
    run_dir: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "state": self.state, "value": json_float(self.value), "params": self.params,
                "best_epoch": self.best_epoch, "epochs_run": self.epochs_run, "seconds": self.seconds,
                "reason": self.reason, "retry_of": self.retry_of, "worker": self.worker, "run_dir": self.run_dir}


def trial_rows(trials: list["optuna.trial.FrozenTrial"], params: list[Param], direction: str) -> list[TrialRow]:
    """Every trial as a row, best first (see the module docstring)."""
    rows = [_row(t, params) for t in trials]
    sign = 1.0 if direction == "minimize" else -1.0

    def key(row: TrialRow):
        value = row.value if row.state == "COMPLETE" and row.value is not None else math.inf
        return (_ORDER.get(row.state, 9), sign * value if value != math.inf else math.inf, row.number)

    return sorted(rows, key=key)


def _row(trial: "optuna.trial.FrozenTrial", params: list[Param]) -> TrialRow:
    attrs = trial.user_attrs
    state = trial.state.name
    if state == "COMPLETE":
        value = trial.value
    elif trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    else:
        value = None
    reason = attrs.get("fail_reason")
    if state == "PRUNED" and attrs.get("pruned_at"):
        reason = f"pruned after epoch {attrs['pruned_at']}"
    elif state == "FAIL" and not reason:
        reason = "no heartbeat: its worker stopped during the trial (killed?)"
    known = {p.key for p in params}
    values = spec_values(params, {k: v for k, v in trial.params.items() if k in known})
    values.update({k: v for k, v in trial.params.items() if k not in known})  # parameters of another space
    return TrialRow(number=trial.number, state=state, value=value, params=values,
                    best_epoch=attrs.get("best_epoch"), epochs_run=attrs.get("epochs_run"), seconds=attrs.get("seconds"),
                    reason=reason, retry_of=trial.system_attrs.get("failed_trial"), worker=attrs.get("worker"),
                    run_dir=attrs.get("run_dir"))


def write_results(out_dir: Path, rows: list[TrialRow], params: list[Param], summary: dict[str, Any]) -> dict[str, Path]:
    """``results.csv`` (one line per trial) and ``results.json`` (the summary plus every row)."""
    out_dir = Path(out_dir)
    csv_path = out_dir / RESULTS_CSV
    csv_path.write_text(results_csv(rows, params))
    json_path = out_dir / RESULTS_JSON
    json_path.write_text(dump_json({**summary, "trials": [r.to_dict() for r in rows]}))
    return {"csv": csv_path, "json": json_path}


def results_csv(rows: list[TrialRow], params: list[Param]) -> str:
    names = list(dict.fromkeys([p.key for p in params] + [k for r in rows for k in r.params]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number", "state", "value", "best_epoch", "epochs_run", *names, "seconds", "reason", "retry_of",
                     "worker", "run_dir"])
    for r in rows:
        writer.writerow([r.number, r.state, _cell(r.value), _cell(r.best_epoch), _cell(r.epochs_run),
                         *(_cell(r.params.get(n)) for n in names), _cell(r.seconds), _cell(r.reason),
                         _cell(r.retry_of), _cell(r.worker), _cell(r.run_dir)])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Scalar):
        return str(value)
    return toml_value(value)


def results_table(rows: list[TrialRow], params: list[Param], metric: str, *, limit: int = 15):
    """A rich table of the first ``limit`` rows."""
    from rich.table import Table

    table = Table(title=f"Trials, best first ({metric})", title_justify="left")
    for name, justify in (("#", "right"), ("state", "left"), (metric, "right"), ("epoch", "right")):
        table.add_column(name, justify=justify)
    for p in params:
        table.add_column(p.key, justify="right")
    table.add_column("time", justify="right")
    table.add_column("note")
    for r in rows[:limit]:
        epoch = f"{r.best_epoch}/{r.epochs_run}" if r.best_epoch else (str(r.epochs_run) if r.epochs_run else "")
        table.add_row(str(r.number), r.state.lower(), format_value(r.value) if r.value is not None else "-", epoch,
                      *(_short(r.params.get(p.key)) for p in params),
                      f"{r.seconds:.1f}s" if r.seconds is not None else "", _short(r.reason or "", 60))
    if len(rows) > limit:
        table.caption = f"{limit} of {len(rows)} trials (all in {RESULTS_CSV})"
    return table


def _short(value: Any, limit: int = 24) -> str:
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else _cell(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["RESULTS_CSV", "RESULTS_JSON", "TrialRow", "results_csv", "results_table", "trial_rows", "write_results"]
