"""Optuna samplers and pruners by their `[search]` names.

Samplers (``sampler``), each seeded with ``seed + w`` in worker ``w`` (0, 1, …)
so that the workers of one run do not draw the same values:

* ``random`` — ``RandomSampler``: every value independently, uniformly (or
  log-uniformly); the lecture's recommendation over a grid;
* ``tpe`` — ``TPESampler`` (Tree-structured Parzen Estimator): random for the
  first 10 trials, then values likely under a density fitted to the best trials
  rather than to the others: it zooms in on good regions by itself;
* ``grid`` — ``GridSampler``: every combination of the values of int,
  categorical and stepped float parameters, each once, in random order; the
  run stops early when the grid is exhausted.

Pruners (``pruner``), fed the metric after every epoch (step = epoch, from 1):

* ``median`` — ``MedianPruner(n_startup_trials=5, n_warmup_steps=1)``: after the
  first 5 trials, stop a trial whose best value so far is worse than the median
  of the other trials' values at the same epoch (never after epoch 1);
* ``hyperband`` — ``HyperbandPruner(min_resource=1, max_resource=epochs,
  reduction_factor=3)``: successive halving over brackets of epoch budgets;
* ``none`` — ``NopPruner``: every trial trains as the spec says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from .space import Param

SAMPLERS = ("random", "tpe", "grid")
PRUNERS = ("median", "hyperband", "none")


def make_sampler(name: str, params: list["Param"], seed: int) -> "optuna.samplers.BaseSampler":
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler({p.key: p.grid() for p in params}, seed=seed)
    raise ValueError(f"unknown sampler {name!r} (allowed {', '.join(SAMPLERS)})")


def make_pruner(name: str, epochs: int) -> "optuna.pruners.BasePruner":
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r} (allowed {', '.join(PRUNERS)})")


def grid_size(params: list["Param"]) -> int:
    size = 1
    for p in params:
        size *= len(p.grid())
    return size


def quiet_optuna() -> None:
    """Optuna's own log lines and experimental-feature warnings off: dnnc shows the progress."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
