"""`dnnc tune` end to end on the NumPy example backend (fast, deterministic): results, best spec, pruning,
failures, grids, resuming, `--workers 2` on the embedded journal storage, and killed workers."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from rich.console import Console

import dnnc
from dnnc.runner.api import compile_with_overrides, train_spec
from support.tune_specs import SEARCH, write_search_spec

pytest.importorskip("dnnc_numpy", reason="the dnnc-numpy example backend is not installed")
optuna = pytest.importorskip("optuna")

from dnnc.tune import tune  # noqa: E402
from dnnc.tune.storage import STUDY_FILE, open_storage  # noqa: E402


def _quiet():
    return Console(file=io.StringIO(), width=200)


def _study(out):
    storage = open_storage(None, out)
    name = optuna.study.get_all_study_names(storage)[0]
    return optuna.load_study(study_name=name, storage=storage)


def test_a_study_writes_results_best_spec_and_plots(tmp_path):
    spec = write_search_spec(tmp_path)
    result = tune(spec, backend="numpy", out=tmp_path / "out", console=_quiet())
    assert [r.state for r in result.rows] == ["COMPLETE"] * 3 and result.trials_run == 3
    values = [r.value for r in result.rows]
    assert values == sorted(values) and result.best.value == values[0]
    out = tmp_path / "out"
    for name in ("results.csv", "results.json", "best.toml", STUDY_FILE, "optimization_history.png",
                 "param_importances.png", "slice.png"):
        assert (out / name).is_file(), name
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0].startswith("number,state,value,best_epoch,epochs_run,model.layers[0].times,")
    assert len(lines) == 4 and lines[1].startswith(f"{result.best.number},COMPLETE,{values[0]!r},")
    summary = json.loads((out / "results.json").read_text())
    assert summary["best"]["number"] == result.best.number and summary["counts"] == {"complete": 3}

    # each trial is an ordinary run directory whose manifest holds the trial's values as --set overrides
    best = result.best
    manifest = json.loads((out / "trials" / f"{best.number:04d}" / "manifest.json").read_text())
    expected = [f"model.layers[0].times={best.params['model.layers[0].times']}",
                f"model.layers[0].layers[0].units={best.params['model.layers[0].layers[0].units']}",
                f"training.optimizer.learning_rate={best.params['training.optimizer.learning_rate']!r}"]
    assert manifest["spec"]["overrides"] == expected
    from dnnc.runner.api import evaluate_run

    trial_dir = out / "trials" / f"{best.number:04d}"
    assert evaluate_run(trial_dir) == pytest.approx(manifest["test_metrics"], rel=1e-6)  # weights.npz is there
    assert not (trial_dir / "learning_curves.png").exists()  # trials skip the slow files
    history = json.loads((trial_dir / "history.json").read_text())
    assert min(history["history"]["val_loss"]) == best.value
    assert history["history"]["val_loss"].index(best.value) + 1 == best.best_epoch

    # best.toml is the same model as the trial, and training it again gives the trial's value exactly
    best_spec = out / "best.toml"
    text = best_spec.read_text()
    assert text.startswith("# The best trial of study 'tiny-search'") and "# a tiny searchable regression MLP" in text
    assert 'path = "../data.npz"' in text
    rebuilt, trained = dnnc.compile_spec(best_spec), compile_with_overrides(spec, expected)[1]
    assert rebuilt.data["dataset"] == {"type": "npz", "path": "../data.npz"}  # relative to best.toml's directory
    assert rebuilt.model_copy(update={"data": trained.data}) == trained  # otherwise the same IR
    again = train_spec(best_spec, backend="numpy", out=tmp_path / "again", progress="quiet")
    assert min(again.history.history["val_loss"]) == best.value


def test_running_again_adds_trials_to_the_same_study(tmp_path):
    spec = write_search_spec(tmp_path, epochs=2)
    tune(spec, backend="numpy", trials=2, out=tmp_path / "out", console=_quiet())
    result = tune(spec, backend="numpy", trials=2, out=tmp_path / "out", console=_quiet())
    assert sorted(r.number for r in result.rows) == [0, 1, 2, 3] and result.trials_run == 2
    assert sorted(p.name for p in (tmp_path / "out" / "trials").iterdir()) == ["0000", "0001", "0002", "0003"]


def test_a_study_of_another_direction_is_refused(tmp_path):
    from dnnc.tune.run import TuneError

    spec = write_search_spec(tmp_path, epochs=1)
    tune(spec, backend="numpy", trials=1, out=tmp_path / "out", console=_quiet())
    spec.write_text(spec.read_text().replace('metric = "val_loss"', 'metric = "val_loss"\ndirection = "maximize"'))
    with pytest.raises(TuneError, match="minimizes its value, but this spec's \\[search\\] maximizes 'val_loss'"):
        tune(spec, backend="numpy", trials=1, out=tmp_path / "out", console=_quiet())


def test_pruned_trials_stop_early_and_keep_a_complete_run_directory(tmp_path):
    search = SEARCH.replace("trials = 3", "trials = 12").replace('sampler = "random"', 'sampler = "random"\npruner = "median"')
    spec = write_search_spec(tmp_path, epochs=8, search=search)
    result = tune(spec, backend="numpy", out=tmp_path / "out", console=_quiet())
    pruned = [r for r in result.rows if r.state == "PRUNED"]
    assert pruned, [(r.number, r.state, r.value) for r in result.rows]
    for r in pruned:
        assert r.reason.startswith("pruned after epoch ") and r.epochs_run < 8
        manifest = json.loads((tmp_path / "out" / "trials" / f"{r.number:04d}" / "manifest.json").read_text())
        assert manifest["status"] == "stopped_early" and manifest["epochs_run"] == r.epochs_run
        assert "test_loss" in manifest["test_metrics"]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_failed_trials_are_recorded_and_the_grid_runs_every_combination_once(tmp_path):
    space = '"training.optimizer.learning_rate" = { type = "categorical", choices = [0.01, 1e12] }'
    spec = write_search_spec(tmp_path, epochs=3, space=space, search=SEARCH.replace("trials = 3", "trials = 5"),
                             callbacks='\n[[training.callbacks]]\ntype = "terminate_on_nan"\n')
    result = tune(spec, backend="numpy", sampler="grid", out=tmp_path / "out", console=_quiet())
    states = {r.params["training.optimizer.learning_rate"]: (r.state, r.reason) for r in result.rows}
    assert states == {0.01: ("COMPLETE", None),
                      1e12: ("FAIL", "the loss became NaN or infinite (terminate_on_nan stopped training)")}
    assert result.trials_run == 2  # the grid has two points, not five
    assert "# Searched values: training.optimizer.learning_rate = 0.01." in (tmp_path / "out" / "best.toml").read_text()


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "dnnc", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, COLUMNS="200"), **kwargs)


def test_two_workers_share_the_embedded_journal_storage(tmp_path):
    spec = write_search_spec(tmp_path, epochs=3, search=SEARCH.replace("trials = 3", "trials = 6"))
    proc = _cli("tune", spec, "--backend", "numpy", "--workers", "2", "--out", tmp_path / "out")
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    assert "database is locked" not in output
    trials = _study(tmp_path / "out").get_trials()
    assert sorted(t.number for t in trials) == list(range(6))
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers ran trials
    assert "this run: 6 trials" in output and "with 2 worker(s)" in output


def _wait_for_running(out, deadline=120.0):
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if (out / STUDY_FILE).exists():
            try:
                running = [t for t in _study(out).get_trials() if t.state.name == "RUNNING" and "worker" in t.user_attrs]
            except (IndexError, KeyError):
                running = []
            if running:
                return running[0]
        time.sleep(0.2)
    raise AssertionError("no trial started")


def test_a_killed_run_leaves_its_trial_failed_and_the_next_run_retries_it(tmp_path):
    spec = write_search_spec(tmp_path, epochs=400, search=SEARCH.replace("trials = 3", "trials = 1"))
    out = tmp_path / "out"
    proc = _cli("tune", spec, "--backend", "numpy", "--out", out)
    try:
        running = _wait_for_running(out)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    spec.write_text(spec.read_text().replace("epochs = 400", "epochs = 2"))
    result = tune(spec, backend="numpy", trials=1, out=out, console=_quiet())
    by_number = {r.number: r for r in result.rows}
    killed = by_number[running.number]
    assert killed.state == "FAIL" and "is no longer running (killed?)" in killed.reason
    [retry] = [r for r in result.rows if r.retry_of == running.number]
    assert retry.state == "COMPLETE" and retry.params == killed.params


def test_a_killed_worker_of_a_run_is_replaced_by_a_retry_on_the_other(tmp_path):
    spec = write_search_spec(tmp_path, epochs=400, search=SEARCH.replace("trials = 3", "trials = 2"))
    out = tmp_path / "out"
    proc = _cli("tune", spec, "--backend", "numpy", "--workers", "2", "--out", out)
    try:
        running = _wait_for_running(out)
        os.kill(int(running.user_attrs["worker"].rpartition(":")[2]), signal.SIGKILL)
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "died (exit code -9)" in output, output
    trials = {t.number: t for t in _study(out).get_trials()}
    killed = trials[running.number]
    assert killed.state.name == "FAIL" and "died during the trial" in killed.user_attrs["fail_reason"]
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == running.number]
    assert [t.state.name for t in retries] == ["COMPLETE"] and retries[0].params == killed.params
    # the killed trial's ticket was handed back: the run still completed two trials
    assert sum(t.state.name == "COMPLETE" for t in trials.values()) == 2 and len(trials) == 3
    assert proc.returncode == 0
