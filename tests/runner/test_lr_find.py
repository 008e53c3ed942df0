"""The learning-rate sweep (`dnnc lr-find`): exponential rates, smoothing, the explosion and suggestion rules,
weights restored, the plot and the JSON; on the NumPy example backend."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner.api import compile_with_overrides, get_backend, load_datasets
from dnnc.runner.lr_find import BETA, DIVISOR, EXPLODE, lr_sweep, rate_at
from support.tune_specs import write_search_spec

pytest.importorskip("dnnc_numpy", reason="the dnnc-numpy example backend is not installed")


def _model(tmp_path):
    spec = write_search_spec(tmp_path)
    _, ir = compile_with_overrides(spec)
    data = load_datasets(ir, base_dir=tmp_path)
    return get_backend("numpy", ir).build(ir, initial_weights(ir, 0)), ir, data


def test_rates_grow_by_a_constant_factor_from_start_to_end():
    rates = [rate_at(k, 1e-6, 10.0, 500) for k in range(500)]
    assert rates[0] == 1e-6 and math.isclose(rates[-1], 10.0, rel_tol=1e-12)
    ratios = np.diff(np.log(rates))
    assert np.allclose(ratios, np.log(1e7) / 499, rtol=1e-9)


def test_the_sweep_stops_when_the_loss_explodes_and_suggests_a_tenth_of_the_best_rate(tmp_path):
    model, ir, data = _model(tmp_path)
    before = {k: v.copy() for k, v in model.get_weights().items()}
    result = lr_sweep(model, ir, data.train, start=1e-5, end=1e3, steps=300)
    assert result.stopped == "exploded" and 10 < len(result.losses) < 300
    # smoothing: bias-corrected exponential moving average of the raw losses
    average, expected = 0.0, []
    for k, loss in enumerate(result.losses):
        average = BETA * average + (1 - BETA) * loss
        expected.append(average / (1 - BETA ** (k + 1)))
    np.testing.assert_allclose(result.smoothed, expected, rtol=1e-12)
    # explosion rule: the last step is the first non-finite or above EXPLODE × the minimum before it
    last, earlier = result.smoothed[-1], min(result.smoothed[:-1])
    assert not math.isfinite(last) or last > EXPLODE * earlier
    assert all(s <= EXPLODE * min(result.smoothed[: k + 1]) for k, s in enumerate(result.smoothed[:-1]))
    best = int(np.nanargmin(result.smoothed))
    assert result.min_loss_rate == result.learning_rates[best]
    assert result.suggestion == result.min_loss_rate / DIVISOR
    # the model's weights are exactly what they were
    after = model.get_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_a_sweep_below_the_explosion_runs_every_step(tmp_path):
    model, ir, data = _model(tmp_path)
    result = lr_sweep(model, ir, data.train, start=1e-6, end=1e-3, steps=40)
    assert result.stopped == "end" and len(result.learning_rates) == 40
    assert result.learning_rates[-1] == pytest.approx(1e-3)


def test_dnnc_lr_find_writes_the_plot_and_the_json(tmp_path):
    spec = write_search_spec(tmp_path)
    out = tmp_path / "lr"
    result = CliRunner().invoke(app, ["lr-find", str(spec), "--backend", "numpy", "--start", "1e-5", "--end", "1e3",
                                      "--steps", "300", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "lr_find.json").read_text())
    assert record["stopped"] == "exploded" and record["backend"] == "numpy" and record["optimizer"] == "sgd"
    assert f"suggested learning rate: {record['suggestion']:.3g}" in result.output
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(app, ["lr-find", str(spec), "--backend", "numpy", "--start", "1", "--end", "0.1"])
    assert bad.exit_code == 2 and "--start must be smaller than --end" in bad.output
