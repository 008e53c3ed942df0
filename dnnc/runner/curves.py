"""learning_curves.png: one panel per quantity (loss, each metric), training vs validation."""

from __future__ import annotations

import math
import threading
from pathlib import Path

from .history import History

_preloading: threading.Thread | None = None


def _import_matplotlib() -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
        from matplotlib.ticker import MaxNLocator  # noqa: F401
    except Exception:  # an unusable matplotlib: plot_learning_curves's own import reports it
        pass


def preload_matplotlib() -> None:
    """Start importing the modules :func:`plot_learning_curves` needs in a daemon thread (once per process), so
    that the import overlaps the data loading (which spends its time in zlib and hashlib, outside the GIL)
    instead of delaying the end of the run."""
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=_import_matplotlib, name="dnnc-preload-matplotlib", daemon=True)
        _preloading.start()


def curve_quantities(history: History) -> list[str]:
    """Training keys to plot (each with its ``val_`` counterpart when present)."""
    return [k for k in history.history if not k.startswith(("val_", "test_")) and k != "learning_rate"]


def plot_learning_curves(history: History, path: str | Path, title: str | None = None) -> Path | None:
    """Write the figure with matplotlib's Agg canvas (no pyplot, no display); None if nothing to plot."""
    if _preloading is not None:
        _preloading.join()
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
