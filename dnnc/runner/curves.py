"""learning_curves.png: one panel per quantity (loss, each metric), training vs validation."""

from __future__ import annotations

import math
from pathlib import Path

from .history import History


def curve_quantities(history: History) -> list[str]:
    """Training keys to plot (each with its ``val_`` counterpart when present)."""
    return [k for k in history.history if not k.startswith(("val_", "test_")) and k != "learning_rate"]


def plot_learning_curves(history: History, path: str | Path, title: str | None = None) -> Path | None:
    """Write the figure with matplotlib's Agg canvas (no pyplot, no display); None if nothing to plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = curve_quantities(history)
    if not keys or not history.epochs:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    epochs = [e + 1 for e in history.epochs]
    for i, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(epochs, _series(history.history[key]), marker="o", markersize=3, label="training")
        val = history.history.get("val_" + key)
        if val is not None:
            ax.plot(epochs, _series(val), marker="o", markersize=3, label="validation")
        test = history.test.get("test_" + key)
        if test is not None and math.isfinite(test):
            ax.axhline(test, linestyle="--", linewidth=1, color="gray", label="test")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def _series(values):
    return [math.nan if v is None else v for v in values]
