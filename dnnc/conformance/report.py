"""Renderings of a :class:`~dnnc.conformance.results.ConformReport`: rich tables, JSON, Markdown, a PNG chart.

The JSON report (:func:`write_json`) is :meth:`ConformReport.to_dict`:

* ``verdict`` — ``"PASS"``, ``"FAIL"``, ``"NOT JUDGED"`` (a level could not run: its ``error`` says why) or
  ``"INCONCLUSIVE"``, and ``exit_code`` (0, 1, 1, 3);
* ``levels.<level>`` — ``verdict``, ``counts``, ``checks`` (each with ``message``)
  and, for the training level, ``tolerance_pp``, ``confidence``, ``first_seeds``,
  ``max_seeds``, ``seeds`` (every seed trained), ``design`` (the α spent per look),
  ``comparisons`` (per backend: the decision's interval of backend − reference in
  percentage points — ``method``, ``seeds``, ``diff_pp``, ``low_pp``, ``high_pp``,
  ``df``, ``confidence``, ``status``, ``seeds_needed`` when INCONCLUSIVE, every
  look in ``looks`` — and both the ``paired`` and ``welch`` intervals),
  ``drift`` (per seed: every run's drift curves against the reference and the
  factors, :meth:`~dnnc.conformance.drift.SeedDrift.to_dict`) and ``cost``
  (``training_runs``, ``drift_runs``, ``seconds``);
* ``backends.<name>`` — ``framework`` and, after the training level,
  ``test_accuracy`` / ``test_loss`` (``mean``, ``std``, ``values``, ``n``) and
  ``runs`` (each seed's per-epoch history);
* ``failures`` and ``inconclusive`` — one sentence per failure / undecided comparison.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .results import FAIL, INCONCLUSIVE, NOT_JUDGED, PASS, SKIP, Check, ConformReport, LevelResult, fmt_value

_STYLE = {PASS: "green", FAIL: "red", SKIP: "yellow", INCONCLUSIVE: "yellow", NOT_JUDGED: "red"}


def _status(status: str) -> str:
    return f"[{_STYLE.get(status, 'white')}]{status}[/]"


def grouped(level: LevelResult) -> list[dict[str, Any]]:
    """One row per (backend, check name): the worst error over its targets and steps."""
    groups: dict[tuple[str, str], list[Check]] = defaultdict(list)
    for c in level.checks:
        groups[(c.backend, c.name)].append(c)
    rows = []
    for (backend, name), checks in groups.items():
        measured = [c for c in checks if c.error is not None and c.status != SKIP]
        statuses = {c.status for c in checks}
        status = next((v for v in (FAIL, INCONCLUSIVE, PASS) if v in statuses), SKIP)
        if measured:
            worst = max(measured, key=lambda c: (c.status == FAIL, (c.error or 0.0) / (c.tolerance or 1.0)))
        else:
            worst = next((c for c in checks if c.status == status), checks[0])
        shown = measured or status != PASS
        rows.append({
            "backend": backend, "check": name, "n": len(checks), "status": status,
            "worst_target": "" if not shown else worst.target + (f" @ step {worst.step}" if worst.step is not None else "")
            + (f" @ batch {worst.batch}" if worst.batch is not None and len({c.batch for c in checks}) > 1 else ""),
            "error": worst.error, "tolerance": worst.tolerance, "norm": worst.norm,
            "detail": worst.detail if status == SKIP else "",
        })
    return rows


def _num(x: Any) -> str:
    return "-" if x is None else fmt_value(float(x))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.2f} %"


# -- rich --------------------------------------------------------------------------------------

def check_table(level: LevelResult) -> Table:
    table = Table(title=f"{level.level} level: {_status(level.verdict)}", title_justify="left")
    for col, kw in (("Backend", {"no_wrap": True}), ("Check", {}), ("#", {"justify": "right", "no_wrap": True}),
                    ("Worst at", {"overflow": "fold"}), ("Error", {"justify": "right", "no_wrap": True}),
                    ("Tol.", {"justify": "right", "no_wrap": True}), ("Status", {"no_wrap": True})):
        table.add_column(col, **kw)
    for r in grouped(level):
        table.add_row(r["backend"], r["check"], str(r["n"]), r["worst_target"] or r["detail"],
                      _num(r["error"]), _num(r["tolerance"]), _status(r["status"]))
    return table


def _accuracy_rows(report: ConformReport) -> list[list[str]]:
    """Per backend: name, seeds, test accuracy, test loss, Δ, interval (with its confidence), status."""
    data = report.levels["training"].data
    comparisons = {c["backend"]: c for c in data.get("comparisons", [])}
    rows = []
    for name in report.backends:
        info = report.backend_info.get(name, {})
        acc, loss = info.get("test_accuracy"), info.get("test_loss")
        if not acc:
            rows.append([name, "0", "-", "-", "-", "-", FAIL])
            continue
        cells = [name, str(acc["n"]), f"{100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} %",
                 f"{loss['mean']:.4f} ± {loss['std']:.4f}" if loss else "-"]
        c = comparisons.get(name)
        if c is None:
            cells += ["reference", "", ""]
        else:
            mark = " Welch" if c["method"] == "welch" else ""
            cells += [f"{c['diff_pp']:+.3f}",
                      f"[{c['low_pp']:+.3f}, {c['high_pp']:+.3f}] ({c['confidence']:.4g}{mark})", c["status"]]
        rows.append(cells)
    return rows


def drift_rows(level: LevelResult) -> list[list[str]]:
    """Per backend and quantity of the float32 drift checks: the worst factor, where, and the verdict."""
    rows = []
    for c in level.checks:
        if c.name != "float32 drift" or c.error is None:
            continue
        rows.append([c.backend, c.target, fmt_value(float(c.error)), fmt_value(float(c.tolerance)),
                     f"step {c.step}: {fmt_value(float(c.value))} vs {fmt_value(float(c.expected))}", c.status])
    return rows


def cost_words(level: LevelResult) -> str:
    cost = level.data.get("cost") or {}
    if not cost:
        return ""
    return (f"{cost['training_runs']} training runs ({cost['training_seconds'] / 60:.1f} min) and "
            f"{cost['drift_runs']} drift runs ({cost['drift_seconds'] / 60:.1f} min): "
            f"{cost['seconds'] / 60:.1f} min in all")


def training_table(report: ConformReport) -> Table:
    level = report.levels["training"]
    data = level.data
    table = Table(title=f"training level: {_status(level.verdict)} (tolerance ±{data.get('tolerance_pp')} pp; "
                        f"{data.get('confidence', 0.95):.0%} decision over looks at "
                        f"{len(data.get('first_seeds', []))}…{data.get('max_seeds')} seeds; difference to "
                        f"{report.reference})", title_justify="left")
    for col, kw in (("Backend", {}), ("Seeds", {"justify": "right"}), ("Test accuracy", {"justify": "right"}),
                    ("Test loss", {"justify": "right"}), ("Δ accuracy (pp)", {"justify": "right"}),
                    ("Interval (pp) (confidence)", {"justify": "right"}), ("Status", {})):
        table.add_column(col, **kw)
    for row in _accuracy_rows(report):
        table.add_row(*row[:-1], _status(row[-1]) if row[-1] else "")
    return table


def drift_table(level: LevelResult) -> Table:
    table = Table(title=f"float32 drift over the first {level.data.get('drift_epochs')} epoch(s): cross-backend "
                        "drift / 1-ulp control drift", title_justify="left")
    for col in ("Backend", "Quantity", "Factor", "Allowed", "Worst at (drift vs control)", "Status"):
        table.add_column(col)
    for row in drift_rows(level):
        table.add_row(*row[:-1], _status(row[-1]))
    return table


def print_report(report: ConformReport, console: Console) -> None:
    """The rich tables of every level, every failure and undecided comparison in full, then the verdict."""
    for name, level in report.levels.items():
        if name == "training" and level.data.get("comparisons") is not None:
            console.print(training_table(report))
            if drift_rows(level):
                console.print(drift_table(level))
            if cost_words(level):
                console.print("cost: " + cost_words(level))
        if level.checks and name != "training":
            console.print(check_table(level))
        if level.error is not None:
            console.print(f"[red]{name} level not judged:[/red] {_escape(level.error)}", soft_wrap=True)
    for message in report.failure_messages(not_judged=False):
        console.print("[red]✗[/red] " + _escape(message), soft_wrap=True)
    for message in report.inconclusive_messages():
        console.print("[yellow]?[/yellow] " + _escape(message), soft_wrap=True)
    console.print(f"conformance of {', '.join(report.backends[1:]) or '(no other backend)'} against "
                  f"{report.reference} on {report.model!r}: {_status(report.verdict)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# -- JSON / Markdown -----------------------------------------------------------------------------

def write_json(report: ConformReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    return path


def markdown(report: ConformReport, *, heading_level: int = 2) -> str:
    """The report as Markdown: one table per level, the failures and the undecided comparisons."""
    h = "#" * heading_level
    lines = [f"{h} {report.model} — {report.verdict}", "",
             f"Spec `{report.spec}`; backends {', '.join(f'`{b}`' for b in report.backends)} "
             f"(reference `{report.reference}`).", ""]
    for name, level in report.levels.items():
        lines += [f"{h}# {name} level: {level.verdict}", ""]
        if name == "training" and level.data.get("comparisons") is not None:
            lines += training_markdown(report) + [""]
        elif level.checks:
            lines += ["| Backend | Check | # | Worst at | Error | Tolerance | Status |",
                      "|---|---|--:|---|--:|--:|---|"]
            for r in grouped(level):
                lines.append(f"| {r['backend']} | {r['check']} | {r['n']} | {r['worst_target'] or r['detail']} | "
                             f"{_num(r['error'])} | {_num(r['tolerance'])} | {r['status']} |")
            lines.append("")
        if level.error:
            lines += [f"Error: {level.error}", ""]
    for title, messages in (("Failures", report.failure_messages()), ("Inconclusive", report.inconclusive_messages())):
        if messages:
            lines += [f"{h}# {title}", ""] + [f"- {m}" for m in messages] + [""]
    return "\n".join(lines)


def training_markdown(report: ConformReport) -> list[str]:
    """The accuracy table, the drift table and the cost of the training level."""
    level = report.levels["training"]
    data = level.data
    lines = [f"Tolerance ±{data.get('tolerance_pp')} percentage points; the {data.get('confidence', 0.95):.0%} "
             f"decision looks at the interval of the difference of mean test accuracy to `{report.reference}` "
             f"(paired by seed unless marked Welch) after {len(data.get('first_seeds', []))}, … "
             f"{data.get('max_seeds')} seeds, α spent over the looks; seeds trained {data.get('seeds')}.", "",
             "| Backend | Seeds | Test accuracy (mean ± std) | Test loss | Δ (pp) | Interval (pp) (confidence) | Status |",
             "|---|--:|--:|--:|--:|--:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _accuracy_rows(report)]
    rows = drift_rows(level)
    if rows:
        lines += ["", f"Float32 drift over the first {data.get('drift_epochs')} epoch(s) of every seed (strict "
                  "parity), against the reference started 1 ulp away with the rows of every batch in another order:",
                  "", "| Backend | Quantity | Factor | Allowed | Worst at (drift vs control) | Status |",
                  "|---|---|--:|--:|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    if cost_words(level):
        lines += ["", "Cost: " + cost_words(level) + "."]
    return lines


def write_markdown(report: ConformReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(report) + "\n")
    return path


# -- chart ---------------------------------------------------------------------------------------

def write_chart(report: ConformReport, path: Path) -> Path:
    """A PNG of the training level: every backend's learning curves (every seed; loss and accuracy per epoch,
    training solid, validation dashed) and, with the drift calibration, the float32 drift curves of every seed
    (weights and loss, log-log: every backend against the reference, and the 1-ulp control in grey)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs_by_backend = {b: report.backend_info.get(b, {}).get("runs", []) for b in report.backends}
    if not any(runs_by_backend.values()):
        raise ValueError("no learning curves to draw: the chart needs the training level (--level training or all)")
    level = report.levels.get("training")
    drift = (level.data.get("drift") if level is not None else None) or []
    keys = [("loss", "val_loss", "loss"), ("accuracy", "val_accuracy", "accuracy")]
    fig, grid = plt.subplots(2 if drift else 1, 2, figsize=(11, 8.4 if drift else 4.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color_of = {b: colors[i % len(colors)] for i, b in enumerate(report.backends)}
    axes = grid[0]
    for i, backend in enumerate(report.backends):
        for j, run in enumerate(runs_by_backend[backend]):
            hist = run.get("history", {})
            epochs = run.get("epochs") or list(range(1, 1 + max((len(v) for v in hist.values()), default=0)))
            for ax, (train_key, val_key, _) in zip(axes, keys):
                for key, style in ((train_key, "-"), (val_key, "--")):
                    pts = [(e, v) for e, v in zip(epochs, hist.get(key) or []) if isinstance(v, (int, float))]
                    if not pts:
                        continue
                    reference = i == 0
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color_of[backend],
                            alpha=0.45 if reference else 0.9, linewidth=3.0 if reference else 1.2,
                            marker=None if reference else "o", markersize=2.5,
                            label=f"{backend} {key}" if j == 0 else None)
    for ax, (_, _, title) in zip(axes, keys):
        ax.set_xlabel("epoch")
        ax.set_title(f"learning curves: {title}")
    if drift:
        _drift_axes(grid[1], drift, color_of)
    for ax in grid.flat:
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{report.model}: every backend and seed (reference {report.reference} wide; training solid, "
                 "validation dashed)" + ("; float32 drift from the reference below" if drift else ""), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _drift_axes(axes, drift: list[dict[str, Any]], color_of: dict[str, str]) -> None:
    """Weights and loss drift per checkpoint step, log-log, one line per seed and run (the control grey)."""
    from .drift import FLOOR

    for ax, quantity, title in zip(axes, ("weights", "loss"),
                                   ("weights ‖w − w_ref‖₂/‖w_ref‖₂", "training loss |Δ|/|ref| (mean since last point)")):
        for j, seed in enumerate(drift):
            for name, curve in seed["curves"].items():
                control = name == seed["control"]
                values = [max(float(v), FLOOR) if isinstance(v, (int, float)) else math.nan for v in curve[quantity]]
                label = None if j else (f"{name}: control (1 ulp away, rows reordered)" if control else f"{name} vs reference")
                ax.plot(curve["steps"], values, "-", color="0.55" if control else color_of.get(name, "C1"),
                        linewidth=2.2 if control else 1.1, alpha=0.8, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"optimizer step (first {drift[0]['epochs']} epoch(s), strict parity)")
        ax.set_title(f"float32 drift: {title}", fontsize=9)
