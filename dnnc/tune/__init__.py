"""Hyperparameter search over a spec: `dnnc tune`, on Optuna.

The pieces, in the order a run uses them:

* :mod:`.check` — the `[search]` table checked against the spec before the first trial;
* :mod:`.space` — the parameters and their values as ``--set`` overrides;
* :mod:`.samplers` — samplers and pruners by name;
* :mod:`.storage` — the embedded journal file or a database, dead workers' trials;
* :mod:`.worker`, :mod:`.trial` — long-lived workers, each trial trained by ``train_spec``;
* :mod:`.progress` — trial i of N, its epoch, the best so far;
* :mod:`.results`, :mod:`.best`, :mod:`.plots` — the table, ``best.toml`` and the plots;
* :mod:`.run` — :func:`tune`, which ties them together.

Optuna is imported only when a search runs (``dnnc validate`` never imports it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TuneResult", "tune"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
