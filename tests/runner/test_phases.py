"""The manifest's `phases` record (dnnc/runner/phases.py): every phase of a run timed, in the manifest of
finished and of failed runs."""

from __future__ import annotations

import json
import time

import pytest

from dnnc.runner.api import train_spec
from dnnc.runner.phases import Phases, timed
from support.fakes import use_fake_backend, xor_spec

RUN_PHASES = {"compile", "data", "backend_build", "weights_init", "records_start", "optimizer_build", "epochs", "test",
              "history", "metrics", "weights", "model", "learning_curves"}


@pytest.fixture(autouse=True)
def fake_backend(monkeypatch):
    return use_fake_backend(monkeypatch)


def test_phases_accumulate_and_round():
    phases = Phases()
    for _ in range(2):
        with phases.phase("a"):
            time.sleep(0.01)
    phases.add("b", 0.12345)
    with timed(None, "ignored"):
        pass
    record = phases.to_dict()
    assert set(record) == {"started_unix", "total_seconds", "seconds"}
    assert set(record["seconds"]) == {"a", "b"} and record["seconds"]["b"] == 0.123
    assert record["seconds"]["a"] >= 0.02 and record["total_seconds"] >= record["seconds"]["a"]
    assert abs(record["started_unix"] - time.time()) < 60


def test_a_run_records_its_phases_in_the_manifest(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(xor_spec(repeat=4, epochs=3, data_extra="validation = { last = 4 }"))
    before = time.time()
    result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    record = manifest["phases"]
    assert set(record["seconds"]) == RUN_PHASES
    assert all(isinstance(v, float) and v >= 0 for v in record["seconds"].values())
    assert before - 0.001 <= record["started_unix"] <= time.time()  # rounded to the millisecond
    sequential = sum(v for k, v in record["seconds"].items() if k != "learning_curves")
    assert record["total_seconds"] >= sequential - 0.01  # rounding of each phase to the millisecond
    assert record["seconds"]["epochs"] >= sum(result.history.epoch_seconds) - 0.01


def test_a_run_without_artifacts_has_no_model_or_curves_phase(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(xor_spec(repeat=4, epochs=1))
    result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet", artifacts=False)
    seconds = json.loads((result.run_dir / "manifest.json").read_text())["phases"]["seconds"]
    assert "model" not in seconds and "learning_curves" not in seconds and "weights" in seconds


def test_a_failed_run_records_the_phases_it_went_through(tmp_path):
    from dnnc.runner.callbacks.base import Callback

    class Fails(Callback):
        def on_epoch_end(self, epoch, logs):
            raise RuntimeError("the callback failed")

    spec = tmp_path / "spec.toml"
    spec.write_text(xor_spec(repeat=4, epochs=3))
    with pytest.raises(RuntimeError, match="the callback failed"):
        train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet", callbacks=[Fails()])
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert set(manifest["phases"]["seconds"]) == {"compile", "data", "backend_build", "weights_init", "records_start",
                                                 "optimizer_build", "epochs"}
