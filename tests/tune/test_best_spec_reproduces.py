"""best.toml trains again to the best trial's value, with the same seed and backend, on Keras and PyTorch.

CPU training is bit-identical from run to run, so the equality is exact.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dnnc.runner.api import train_spec
from support.tune_specs import SEARCH, write_search_spec

pytest.importorskip("optuna")


@pytest.mark.parametrize("backend, module", [("torch", "torch"), ("keras", "keras")])
def test_best_spec_reproduces_the_best_value(tmp_path, backend, module):
    pytest.importorskip(module)
    from dnnc.tune import tune

    spec = write_search_spec(tmp_path, epochs=3, search=SEARCH.replace("trials = 3", "trials = 2"))
    result = tune(spec, backend=backend, out=tmp_path / "out", console=Console(file=io.StringIO()))
    assert [r.state for r in result.rows] == ["COMPLETE", "COMPLETE"]
    assert result.rows[0].value < result.rows[1].value
    again = train_spec(result.best_spec, backend=backend, out=tmp_path / "again", progress="quiet")
    assert min(again.history.history["val_loss"]) == result.best.value
