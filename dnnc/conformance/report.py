"""Renderings of a :class:`~dnnc.conformance.results.ConformReport`: rich tables, JSON, Markdown, a PNG chart.

The JSON report (:func:`write_json`) is :meth:`ConformReport.to_dict`:

* ``verdict`` — ``"PASS"`` or ``"FAIL"``;
* ``levels.<level>`` — ``verdict``, ``counts``, ``checks`` (each with ``message``)
  and, for the training level, ``tolerance_pp``, ``confidence``, ``seeds`` and
  ``comparisons`` (per backend: the verdict's interval of backend − reference in
  percentage points — ``method``, ``diff_pp``, ``low_pp``, ``high_pp``, ``df``, ``status`` —
  and both the ``paired`` and ``welch`` intervals);
* ``backends.<name>`` — ``framework`` and, after the training level,
  ``test_accuracy`` / ``test_loss`` (``mean``, ``std``, ``values``, ``n``) and
  ``runs`` (each seed's per-epoch history);
* ``failures`` — one sentence per failure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .results import FAIL, PASS, SKIP, Check, ConformReport, LevelResult, fmt_value

_STYLE = {PASS: "green", FAIL: "red", SKIP: "yellow"}


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
        status = FAIL if FAIL in statuses else (PASS if PASS in statuses else SKIP)
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


def training_table(report: ConformReport) -> Table:
    level = report.levels["training"]
    data = level.data
    tol = data.get("tolerance_pp")
    conf = data.get("confidence", 0.95)
    method = (data.get("comparisons") or [{}])[0].get("method", "")
    kind = {"paired": "paired", "welch": "Welch"}.get(method, "")
    table = Table(title=f"training level: {_status(level.verdict)} (tolerance ±{tol} pp, {conf:.0%} {kind} interval "
                        f"of the difference to {report.reference})".replace("  ", " "), title_justify="left")
    for col, kw in (("Backend", {}), ("Seeds", {"justify": "right"}), ("Test accuracy", {"justify": "right"}),
                    ("Test loss", {"justify": "right"}), ("Δ accuracy (pp)", {"justify": "right"}),
                    ("Interval (pp)", {"justify": "right"}), ("Status", {})):
        table.add_column(col, **kw)
    comparisons = {c["backend"]: c for c in data.get("comparisons", [])}
    for name in report.backends:
        info = report.backend_info.get(name, {})
        acc, loss = info.get("test_accuracy"), info.get("test_loss")
        if not acc:
            table.add_row(name, "0", "-", "-", "-", "-", _status(FAIL))
            continue
        acc_s = f"{100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} %"
        loss_s = f"{loss['mean']:.4f} ± {loss['std']:.4f}" if loss else "-"
        c = comparisons.get(name)
        if c is None:
            table.add_row(name, str(acc["n"]), acc_s, loss_s, "reference", "", "")
        else:
            table.add_row(name, str(acc["n"]), acc_s, loss_s, f"{c['diff_pp']:+.3f}",
                          f"[{c['low_pp']:+.3f}, {c['high_pp']:+.3f}]", _status(c["status"]))
    return table


def print_report(report: ConformReport, console: Console) -> None:
    """The rich tables of every level, every failure in full, then the verdict."""
    for name, level in report.levels.items():
        if name == "training" and level.data.get("comparisons") is not None:
            console.print(training_table(report))
        if level.checks and name != "training":
            console.print(check_table(level))
        if level.error is not None:
            console.print(f"[red]{name} level failed:[/red] {level.error}")
    failures = report.failure_messages()
    for message in failures:
        console.print("[red]✗[/red] " + _escape(message), soft_wrap=True)
    verdict = report.verdict
    console.print(f"conformance of {', '.join(report.backends[1:]) or '(no other backend)'} against "
                  f"{report.reference} on {report.model!r}: {_status(verdict)}")


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
    """The report as Markdown: one table per level and the failures."""
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
    failures = report.failure_messages()
    if failures:
        lines += [f"{h}# Failures", ""] + [f"- {m}" for m in failures] + [""]
    return "\n".join(lines)


def training_markdown(report: ConformReport) -> list[str]:
    level = report.levels["training"]
    data = level.data
    comparisons = {c["backend"]: c for c in data.get("comparisons", [])}
    lines = [f"Tolerance ±{data.get('tolerance_pp')} percentage points; {data.get('confidence', 0.95):.0%} interval "
             f"of the difference of mean test accuracy to `{report.reference}` (paired by seed unless marked "
             f"Welch); seeds {data.get('seeds')}.", "",
             "| Backend | Seeds | Test accuracy (mean ± std) | Test loss | Δ (pp) | Interval (pp) | Status |",
             "|---|--:|--:|--:|--:|--:|---|"]
    for name in report.backends:
        info = report.backend_info.get(name, {})
        acc, loss = info.get("test_accuracy"), info.get("test_loss")
        if not acc:
            lines.append(f"| {name} | 0 | - | - | - | - | FAIL |")
            continue
        c = comparisons.get(name)
        cells = [name, str(acc["n"]), f"{100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} %",
                 f"{loss['mean']:.4f} ± {loss['std']:.4f}" if loss else "-"]
        if c is None:
            cells += ["reference", "", ""]
        else:
            mark = " (Welch)" if c["method"] == "welch" else ""
            cells += [f"{c['diff_pp']:+.3f}", f"[{c['low_pp']:+.3f}, {c['high_pp']:+.3f}]{mark}", c["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_markdown(report: ConformReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(report) + "\n")
    return path


# -- chart ---------------------------------------------------------------------------------------

def write_chart(report: ConformReport, path: Path) -> Path:
    """A PNG overlaying every backend's learning curves (every seed): loss and accuracy per epoch,
    training solid, validation dashed."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs_by_backend = {b: report.backend_info.get(b, {}).get("runs", []) for b in report.backends}
    if not any(runs_by_backend.values()):
        raise ValueError("no learning curves to draw: the chart needs the training level (--level training or all)")
    keys = [("loss", "val_loss", "loss"), ("accuracy", "val_accuracy", "accuracy")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, backend in enumerate(report.backends):
        color = colors[i % len(colors)]
        for j, run in enumerate(runs_by_backend[backend]):
            hist = run.get("history", {})
            epochs = run.get("epochs") or list(range(1, 1 + max((len(v) for v in hist.values()), default=0)))
            for ax, (train_key, val_key, _) in zip(axes, keys):
                for key, style in ((train_key, "-"), (val_key, "--")):
                    values = hist.get(key)
                    if not values:
                        continue
                    pts = [(e, v) for e, v in zip(epochs, values) if isinstance(v, (int, float))]
                    if not pts:
                        continue
                    label = f"{backend} {key}" if j == 0 else None
                    reference = i == 0
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color,
                            alpha=0.45 if reference else 0.9, linewidth=3.0 if reference else 1.2,
                            marker=None if reference else "o", markersize=2.5, label=label)
    for ax, (_, _, title) in zip(axes, keys):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{report.model}: learning curves, every backend and seed (reference {report.reference} wide; "
                 "training solid, validation dashed)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
