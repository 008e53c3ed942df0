"""``stats.json`` and the rich tables of an inspection.

``stats.json``::

    {"model", "source", "weights", "split", "rows", "mode": "inference",
     "rules": {"saturation_margin", "bounded", "relu_like"},
     "backends": {name: {"losses": {...}, "layers": [per-layer statistics, see .stats]}},
     "agreement": {"reference", "verdict", "counts", "checks", "failures"}    # with several backends
     "files": {name: path}}

Non-finite numbers are written as the strings "NaN", "Infinity", "-Infinity".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from ..conformance.results import FAIL, PASS, SKIP, Check, LevelResult, fmt_value
from .agreement import LEVEL
from .layers import BOUNDS, ZERO_CLAMPING
from .stats import SATURATION_MARGIN

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from .run import InspectResult


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def agreement_level(checks: list[Check]) -> LevelResult:
    return LevelResult(LEVEL, checks)


def stats_document(result: "InspectResult") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "model": result.model, "source": result.source, "weights": result.weights, "split": result.split,
        "rows": result.rows, "mode": "inference",
        "rules": {"saturation_margin": SATURATION_MARGIN, "bounded": {k: list(v) for k, v in BOUNDS.items()},
                  "relu_like": sorted(ZERO_CLAMPING) + ["leaky_relu with negative_slope 0"]},
        "backends": {i.backend: {"losses": i.losses, "layers": result.stats[i.backend]} for i in result.inspections},
    }
    if len(result.inspections) > 1:
        level = agreement_level(result.checks)
        doc["agreement"] = {"reference": result.inspections[0].backend, **level.to_dict(),
                            "failures": [c.message for c in level.failures]}
    doc["files"] = {k: str(v) for k, v in result.files.items()}
    return _plain(doc)


def write_stats(result: "InspectResult", path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stats_document(result), indent=2) + "\n", encoding="utf-8")
    return path


def _num(x: Any) -> str:
    return "-" if x is None else fmt_value(float(x))


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100.0 * x:.1f} %"


def stats_table(backend: str, rows: list[dict[str, Any]], title: str) -> Table:
    """One line per layer: the activations' statistics, the threshold counts and the gradient norms."""
    table = Table(title=title, title_justify="left")
    for col, kw in (("Layer", {"no_wrap": True}), ("Node", {}), ("Mean", {"justify": "right"}),
                    ("Std", {"justify": "right"}), ("Min", {"justify": "right"}), ("Max", {"justify": "right"}),
                    ("Saturated", {"justify": "right"}), ("Zeros", {"justify": "right"}),
                    ("Dead units", {"justify": "right"}), ("‖∂L/∂out‖", {"justify": "right"}),
                    ("ratio", {"justify": "right"}), ("‖∂L/∂W‖", {"justify": "right"}), ("ratio ", {"justify": "right"})):
        table.add_column(col, **kw)
    for r in rows:
        a, g = r["activations"], r["output_gradient"]
        dead = f"{a['dead_units']}/{a['units']}" if "dead_units" in a else "-"
        table.add_row(r["title"], r["label"], _num(a["mean"]), _num(a["std"]), _num(a["min"]), _num(a["max"]),
                      _pct(a.get("saturated_fraction")), _pct(a.get("zero_fraction")), dead, _num(g["norm"]),
                      _num(g["norm_ratio"]), _num(r["parameter_gradient_norm"]), _num(r["parameter_gradient_ratio"]))
    return table


def print_report(result: "InspectResult", console: "Console") -> None:
    """The reference backend's table; with several backends, the agreement table and every failure."""
    from ..conformance.report import check_table

    first = result.inspections[0]
    loss = ", ".join(f"{k} {v:.6g}" for k, v in first.losses.items())
    console.print(stats_table(first.backend, result.stats[first.backend],
                              f"{result.model} ({first.backend}): {result.rows} {result.split} rows, "
                              f"{result.weights} weights, inference mode; {loss}"))
    if len(result.inspections) > 1:
        level = agreement_level(result.checks)
        console.print(check_table(level))
        for check in level.failures:
            console.print(f"[red]FAIL[/red] {escape(check.message)}", highlight=False)
        style = {PASS: "green", FAIL: "red", SKIP: "yellow"}[level.verdict]
        others = ", ".join(i.backend for i in result.inspections[1:])
        console.print(f"agreement of {others} with {first.backend}: [{style}]{level.verdict}[/]")
