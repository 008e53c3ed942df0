"""Studies in a real PostgreSQL server: two `dnnc tune` processes fill one study, and a killed worker's
trial ends FAILED through the heartbeat and is retried.

`.ci/run` starts a throw-away server and sets DNNC_TEST_POSTGRES_URL; without it these tests are skipped.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from rich.console import Console

from support.tune_specs import SEARCH, write_search_spec

URL = os.environ.get("DNNC_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="DNNC_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL "
                                                "server and sets it)")
optuna = pytest.importorskip("optuna")
pytest.importorskip("dnnc_numpy", reason="the dnnc-numpy example backend is not installed")


def _storage():
    from dnnc.tune.storage import sql_url

    return optuna.storages.RDBStorage(sql_url(URL))


def _cli(*args):
    return subprocess.Popen([sys.executable, "-m", "dnnc", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, COLUMNS="200"))


def test_two_processes_fill_one_study_with_unique_trial_numbers(tmp_path):
    name = f"two-workers-{uuid.uuid4().hex[:8]}"
    spec = write_search_spec(tmp_path, epochs=3, search=SEARCH.replace("trials = 3", "trials = 4"))
    procs = [_cli("tune", spec, "--backend", "numpy", "--storage", URL, "--study", name, "--seed", 100 * i,
                  "--out", tmp_path / f"m{i}") for i in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    trials = optuna.load_study(study_name=name, storage=_storage()).get_trials()
    assert sorted(t.number for t in trials) == list(range(8))
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 8  # each machine has its own --seed
    for i in range(2):  # each machine keeps the run directories of its own trials
        mine = {t.number for t in trials if t.user_attrs["run_dir"].startswith(str(tmp_path / f"m{i}"))}
        assert len(mine) == 4 and all((tmp_path / f"m{i}" / "trials" / f"{n:04d}").is_dir() for n in mine)
    assert "database" in outputs[0] and "8 trials (8 complete)" in outputs[1] + outputs[0]


def test_a_killed_workers_trial_fails_by_heartbeat_and_is_retried(tmp_path):
    from dnnc.tune import tune

    name = f"killed-{uuid.uuid4().hex[:8]}"
    spec = write_search_spec(tmp_path, epochs=400, search=SEARCH.replace("trials = 3", "trials = 1"))
    proc = _cli("tune", spec, "--backend", "numpy", "--storage", URL, "--study", name, "--heartbeat", "1",
                "--out", tmp_path / "a")
    storage = _storage()
    try:
        start = time.monotonic()
        running = []
        while not running and time.monotonic() - start < 120:
            time.sleep(0.2)
            try:
                trials = optuna.load_study(study_name=name, storage=storage).get_trials()
            except KeyError:  # the study is not created yet
                continue
            running = [t for t in trials if t.state.name == "RUNNING" and "worker" in t.user_attrs]
        assert running, "no trial started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    time.sleep(3)  # let the heartbeat go stale (grace period: 2 × 1 s)
    spec.write_text(spec.read_text().replace("epochs = 400", "epochs = 2"))
    result = tune(spec, backend="numpy", trials=1, storage=URL, study=name, heartbeat=1, out=tmp_path / "b",
                  console=Console(file=io.StringIO()))
    rows = {r.number: r for r in result.rows}
    killed = rows[running[0].number]
    assert killed.state == "FAIL" and killed.reason.startswith("no heartbeat")
    [retry] = [r for r in result.rows if r.retry_of == killed.number]
    assert retry.state == "COMPLETE" and retry.params == killed.params
    assert result.storage.startswith("database postgresql+psycopg://dnnc@/postgres")
