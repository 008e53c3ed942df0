"""The study's plots, as PNG files, drawn with Optuna's matplotlib visualizations.

* ``optimization_history.png`` — each completed trial's value and the best so far;
* ``param_importances.png`` — how much of the value's variation each parameter
  explains (Optuna's default evaluator, PED-ANOVA); needs at least two completed
  trials with different values;
* ``slice.png`` — the value against each parameter, one panel per parameter.

A plot that cannot be drawn yet (too few completed trials) is skipped with its
reason; the others are still written.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import optuna

PLOTS = ("optimization_history", "param_importances", "slice")


def write_plots(study: "optuna.Study", out_dir: Path, *, metric: str) -> tuple[dict[str, Path], dict[str, str]]:
    """(plot name → PNG written, plot name → why it was skipped)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as vis

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    drawers = {
        "optimization_history": lambda: vis.plot_optimization_history(study, target_name=metric),
        "param_importances": lambda: vis.plot_param_importances(study, target_name=metric),
        "slice": lambda: vis.plot_slice(study, target_name=metric),
    }
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for name, draw in drawers.items():
        if not done:
            skipped[name] = "no completed trial"
            continue
        if name == "param_importances" and len({t.value for t in done}) < 2:
            skipped[name] = "needs two completed trials with different values"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw()
                figure = _figure(axes)
                if name == "slice":  # one panel per parameter, room for the long path names
                    figure.set_size_inches(max(6.0, 4.2 * len(study.best_trial.params) + 1.0), 4.5)
                else:  # (the slice plot places its own colour bar)
                    figure.tight_layout()
            path = Path(out_dir) / f"{name}.png"
            figure.savefig(path, dpi=100, bbox_inches="tight")
            plt.close(figure)
            written[name] = path
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"
            plt.close("all")
    return written, skipped


def _figure(axes):
    import numpy as np

    first = np.ravel(axes)[0] if isinstance(axes, np.ndarray) else axes
    return first.get_figure()


__all__ = ["PLOTS", "write_plots"]
