"""Resumable checkpoints (dnnc.runner.checkpoint) and dnnc resume, in this process.

The kill -9 test in another process is test_resume_after_kill.py; here: the file format, when checkpoints
are written, what resume refuses, extending a finished run, continuing on another backend, callbacks'
files (CSV, TensorBoard) and the manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from dnnc.compiler.ir import CheckpointIR
from dnnc.runner import TrainingState, train_spec
from dnnc.runner.resident import Residency
from dnnc.runner import executor as executor_module
from dnnc.runner.checkpoint import CHECKPOINT_FILE, Checkpoint, CheckpointWriter, read_checkpoint, write_checkpoint
from dnnc.runner.errors import RunnerError
from dnnc.runner.resume import resume_run
from support.fakes import FakeBackend, xor_spec

runner = CliRunner()

SPEC = """
name = "resume"
[data]
dataset = {{ type = "xor", repeat = 8, noise = 0.15 }}
validation_split = 0.25
[model]
input_shape = [2]
layers = [
  {{ type = "dense", name = "hidden", units = 8, activation = "tanh", trainable = false }},
  {{ type = "batch_norm", name = "norm" }},
  {{ type = "dropout", rate = 0.25 }},
  {{ type = "dense", name = "out", units = 1, activation = "sigmoid" }},
]
[training]
loss = "binary_crossentropy"
metrics = ["accuracy"]
optimizer = {{ type = "nadam", learning_rate = 0.02 }}
batch_size = 4
epochs = {epochs}
strict_parity = {strict}
checkpoint = {{ every_steps = 4, min_seconds = 0 }}
callbacks = [
  {{ type = "unfreeze", after_epochs = 1, learning_rate = 0.01 }},
  {{ type = "reduce_lr_on_plateau", patience = 1, factor = 0.5 }},
  {{ type = "csv_logger" }},
  {{ type = "tensorboard" }},
]
"""


def write(tmp_path: Path, epochs: int = 4, strict: str = "false", name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(SPEC.format(epochs=epochs, strict=strict))
    return path


def needs(*backends: str) -> None:
    """Skip unless the backends are available (their status() imports no framework)."""
    from dnnc.plugins.manager import get_registry

    for name in backends:
        backend = get_registry().backends.get(name)
        if backend is None or not backend.status()[0]:
            pytest.skip(f"backend {name!r} is not available")


class Crash(Exception):
    """What the patched executor raises to cut a run short."""


@pytest.fixture
def crash_at(monkeypatch):
    """crash_at(n): the n-th training step of the next runs raises Crash (after updating the weights)."""
    original = executor_module.LocalExecutor.train_step

    def arm(n: int) -> None:
        count = {"n": 0}

        def step(self, batch, **kwargs):
            result = original(self, batch, **kwargs)
            count["n"] += 1
            if count["n"] == n:
                raise Crash(f"step {n}")
            return result

        def steps(self, chunk, *args, **kwargs):  # the resident path: a chunk of K steps, all done on return
            result = original_steps(self, chunk, *args, **kwargs)
            before = count["n"]
            count["n"] += len(chunk)
            if before < n <= count["n"]:
                raise Crash(f"step {n}")
            return result

        monkeypatch.setattr(executor_module.LocalExecutor, "train_step", step)
        monkeypatch.setattr(Residency, "train_steps", steps)

    original_steps = Residency.train_steps
    yield arm
    monkeypatch.setattr(executor_module.LocalExecutor, "train_step", original)
    monkeypatch.setattr(Residency, "train_steps", original_steps)


def same_run(a: Path, b: Path) -> None:
    for name in ("metrics.json", "history.csv"):
        assert (a / name).read_text() == (b / name).read_text(), name
    assert json.loads((a / "history.json").read_text())["history"] == json.loads((b / "history.json").read_text())["history"]
    with np.load(a / "weights.npz") as wa, np.load(b / "weights.npz") as wb:
        assert wa.files == wb.files
        for key in wa.files:
            np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


def scalars_by_step(directory: Path) -> dict[str, list[int]]:
    """Tag → the steps it was written at, over every event file of `directory`."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    out: dict[str, list[int]] = {}
    for path in sorted(directory.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                out.setdefault(value.tag, []).append(event.step)
    return out


# --------------------------------------------------------------------------
# the file and the schedule
# --------------------------------------------------------------------------


def test_checkpoint_file_round_trip(tmp_path):
    weights = {"d/kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}
    ckpt = Checkpoint(
        backend="torch", ir_sha256="ab" * 32, state=TrainingState(epoch=2, global_step=9, lr_factor=0.5,
                                                                  unfrozen=["d"]),
        step_in_epoch=3, epoch_seconds=1.5, history={"epochs": [1, 2], "history": {"loss": [1.0, float("nan")]}},
        facts={"seed": 0, "batch_size": 4, "steps_per_epoch": 6, "train_rows": 24}, weights=weights,
        optimizer={"d/kernel/m": np.ones((2, 3), np.float32), "iterations": np.asarray(9, np.int64)},
        random={"torch_generator": np.arange(5, dtype=np.uint8)}, metrics=np.array([1.0, 2.0]),
        callbacks=[{"callback": "EarlyStopping", "state": {"best": 0.25, "best_weights": weights, "wait": 1}}],
    )
    path = write_checkpoint(tmp_path / CHECKPOINT_FILE, ckpt)
    back = read_checkpoint(path)
    assert back.state == ckpt.state and back.step_in_epoch == 3 and back.facts == ckpt.facts
    assert back.history["epochs"] == [1, 2] and np.isnan(back.history["history"]["loss"][1])
    np.testing.assert_array_equal(back.weights["d/kernel"], weights["d/kernel"])
    assert int(back.optimizer["iterations"]) == 9 and back.random["torch_generator"].tolist() == [0, 1, 2, 3, 4]
    state = back.callbacks[0]["state"]
    assert state["best"] == 0.25 and state["wait"] == 1
    np.testing.assert_array_equal(state["best_weights"]["d/kernel"], weights["d/kernel"])
    assert back.position() == "epoch 3, after step 3/6 (global step 9)"
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(RunnerError, match="bad.npz: not a readable checkpoint"):
        read_checkpoint(tmp_path / "bad.npz")
    np.savez(tmp_path / "weights.npz", a=np.zeros(2))
    with pytest.raises(RunnerError, match="not a dnnc checkpoint"):
        read_checkpoint(tmp_path / "weights.npz")


def test_checkpoint_schedule_steps_epochs_and_minimum_interval(tmp_path):
    now = {"t": 0.0}
    writer = CheckpointWriter(tmp_path / "c.npz", CheckpointIR(every_epochs=2, every_steps=3, min_seconds=10),
                              clock=lambda: now["t"])
    assert [k for k in range(1, 10) if writer.step_due(k)] == [3, 6, 9]
    assert [e for e in range(6) if writer.epoch_due(e, last=False)] == [1, 3, 5]
    writer._last = 0.0  # one was just written
    now["t"] = 5.0
    assert not writer.step_due(3) and not writer.epoch_due(1, last=False) and writer.epoch_due(4, last=True)
    now["t"] = 10.0
    assert writer.step_due(3)
    off = CheckpointWriter(tmp_path / "c.npz", CheckpointIR(every_epochs=0, every_steps=0, min_seconds=0))
    assert not off.epoch_due(0, last=True) and not off.step_due(1)


# --------------------------------------------------------------------------
# resuming
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend, crash", [("torch", 9), ("torch", 7)])
def test_resume_after_a_crash_mid_epoch_is_exact(tmp_path, crash_at, backend, crash):
    """Crash in step 9 (mid-epoch 2, after unfreezing: continued from step 8) and in step 7 (continued from
    the end of epoch 1).  6 steps per epoch, checkpoints every 4 steps and at epoch ends."""
    needs(backend)
    spec = write(tmp_path)
    reference = train_spec(spec, backend=backend, out=tmp_path / "ref", progress="quiet")
    crash_at(crash)
    with pytest.raises(Crash):
        train_spec(spec, backend=backend, out=tmp_path / "run", progress="quiet")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "Crash" in manifest["error"]
    ckpt = read_checkpoint(tmp_path / "run" / CHECKPOINT_FILE)
    assert (ckpt.state.epoch, ckpt.step_in_epoch, ckpt.state.global_step) == ((1, 2, 8) if crash == 9 else (1, 0, 6))
    assert ckpt.state.unfrozen == (["hidden"] if crash == 9 else [])
    crash_at(10**9)
    result = resume_run(tmp_path / "run", progress="quiet")
    assert result.status == "completed" and result.history.history == reference.history.history
    assert result.test_metrics == reference.test_metrics
    same_run(tmp_path / "ref", tmp_path / "run")
    assert result.model.ir.node("hidden").trainable  # unfrozen after epoch 1, also in the resumed model
    steps = scalars_by_step(tmp_path / "run" / "tensorboard" / "train")
    assert steps["epoch_loss"] == [1, 2, 3, 4]  # epochs done again after the checkpoint are not written twice
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and "error" not in manifest
    [interruption] = manifest["interruptions"]
    assert interruption["status_found"] == "failed" and interruption["continued_from"]["global_step"] == ckpt.state.global_step
    [resumption] = manifest["resumptions"]
    assert resumption["backend"] == backend and resumption["status"] == "completed" and resumption["epochs"] == 4
    assert "resuming from the checkpoint of" in (tmp_path / "run" / "train.log").read_text()


def test_a_compiled_run_resumes_exactly(tmp_path, crash_at):
    """training.compile: crash in step 9 (after the unfreeze rebuilt and recompiled the optimizer), resume from
    step 8; the compiled graphs are deterministic, so the run ends exactly as the uninterrupted compiled one."""
    needs("torch")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(epochs=3, strict="false").replace("strict_parity = false", "compile = true"))
    reference = train_spec(spec, backend="torch", out=tmp_path / "ref", progress="quiet")
    crash_at(9)
    with pytest.raises(Crash):
        train_spec(spec, backend="torch", out=tmp_path / "run", progress="quiet")
    crash_at(10**9)
    result = resume_run(tmp_path / "run", progress="quiet")
    assert result.status == "completed" and result.history.history == reference.history.history
    same_run(tmp_path / "ref", tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["compile"] == {"requested": True, "compiled": "torch.compile (inductor, mode=default)"}
    assert "step_compile" in manifest["phases"]["seconds"]


def test_resume_extends_a_finished_run_exactly_like_a_longer_run(tmp_path):
    needs("torch")
    longer = train_spec(write(tmp_path, epochs=5, name="five.toml"), backend="torch", out=tmp_path / "five",
                        progress="quiet")
    train_spec(write(tmp_path, epochs=3, name="three.toml"), backend="torch", out=tmp_path / "three", progress="quiet")
    with pytest.raises(RunnerError, match=r"completed its 3 epochs; pass --epochs N with N > 3"):
        resume_run(tmp_path / "three", progress="quiet")
    result = resume_run(tmp_path / "three", epochs=5, progress="quiet")
    assert result.history.history == longer.history.history and result.test_metrics == longer.test_metrics
    assert json.loads((tmp_path / "three" / "manifest.json").read_text())["epochs"] == 5
    with pytest.raises(RunnerError, match="completed its 5 epochs"):
        resume_run(tmp_path / "three", epochs=5, progress="quiet")


def test_resume_on_another_backend_continues_within_conformance_tolerance(tmp_path):
    needs("torch", "keras")
    from dnnc.conformance.pairwise import scaled_error

    spec = write(tmp_path, epochs=4, strict="true")
    whole = train_spec(spec, backend="torch", out=tmp_path / "torch", progress="quiet")
    train_spec(spec, backend="keras", epochs=2, out=tmp_path / "mixed", progress="quiet")
    result = resume_run(tmp_path / "mixed", epochs=4, backend="torch", progress="quiet")
    assert result.backend == "torch" and (tmp_path / "mixed" / "model.pt").is_file()
    # max|Δ|/max(1, max|w|) per array and the loss relative: 4 XOR epochs under strict parity, two of them on
    # another backend, stay within 1e-5 of the single-backend run (measured worst 5.6e-7 for the weights)
    tolerance = 1e-5
    got, want = result.model.get_weights(), whole.model.get_weights()
    worst = max(scaled_error(got[k], want[k])[0] for k in want)
    assert worst <= tolerance, worst
    np.testing.assert_allclose(result.history.history["loss"], whole.history.history["loss"], rtol=tolerance)
    manifest = json.loads((tmp_path / "mixed" / "manifest.json").read_text())
    assert manifest["backend"]["name"] == "torch"
    assert manifest["resumptions"][0]["previous_backend"] == "keras" and manifest["interruptions"] == []


@pytest.fixture
def fake(monkeypatch):
    from dnnc.plugins.manager import get_registry

    monkeypatch.setitem(get_registry().backends, "fake", FakeBackend())


def test_resume_refuses_what_it_cannot_continue(tmp_path, fake):
    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec(repeat=2, epochs=2, training_extra="checkpoint = { min_seconds = 0 }\n"
                             "callbacks = [{ type = \"early_stopping\", monitor = \"loss\", patience = 0, "
                             "min_delta = 100 }]"))
    train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    with pytest.raises(RunnerError, match="early stopping"):
        resume_run(tmp_path / "run", epochs=10, progress="quiet")
    with pytest.raises(RunnerError, match="is not a dnnc run directory"):
        resume_run(tmp_path, progress="quiet")
    result = runner.invoke(app, ["resume", str(tmp_path / "run"), "--epochs", "10"])
    assert result.exit_code == 1 and "nothing to continue" in result.output


def test_resume_checks_the_data_and_restarts_a_run_without_checkpoint(tmp_path, fake):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(16, 3)).astype(np.float32), y=rng.integers(0, 2, 16))
    spec = tmp_path / "s.toml"
    spec.write_text("""
[data]
dataset = { type = "npz", path = "d.npz" }
[model]
input_shape = [3]
layers = [{ type = "dense", units = 2, activation = "softmax" }]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = { type = "sgd", learning_rate = 0.1 }
batch_size = 4
epochs = 3
""")
    reference = train_spec(spec, backend="fake", out=tmp_path / "ref", progress="quiet")
    shutil.copytree(tmp_path / "ref", tmp_path / "run")
    (tmp_path / "run" / CHECKPOINT_FILE).unlink()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(dict(manifest, status="running")))
    result = resume_run(tmp_path / "run", progress="quiet")  # killed before its first checkpoint: from the start
    assert result.history.history == reference.history.history
    entry = json.loads((tmp_path / "run" / "manifest.json").read_text())["interruptions"][0]
    assert entry["status_found"] == "running" and entry["continued_from"].startswith("the start")
    np.savez(tmp_path / "d.npz", x=np.zeros((16, 3), np.float32), y=np.zeros(16, np.int64))
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(dict(manifest, status="running")))
    with pytest.raises(RunnerError, match=r"the data changed since the run started: .*d\.npz"):
        resume_run(tmp_path / "run", progress="quiet")


def test_cli_resume_continues_an_interrupted_run(tmp_path, fake):
    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec(repeat=2, epochs=3, training_extra="checkpoint = { min_seconds = 0 }"))
    reference = train_spec(spec, backend="fake", out=tmp_path / "ref", progress="quiet")
    train_spec(spec, backend="fake", epochs=2, out=tmp_path / "run", progress="quiet")
    result = runner.invoke(app, ["resume", str(tmp_path / "run"), "--epochs", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "test_loss" in result.output and "run directory" in result.output
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["history"] == reference.history.to_dict()["history"]
    assert runner.invoke(app, ["resume", "--help"]).exit_code == 0


def test_a_resumed_run_appends_to_the_histogram_event_file(tmp_path, crash_at):
    """The histograms callback measures at the start once and after each epoch; a resumed run neither measures
    its start again nor keeps what was written after the checkpoint."""
    needs("numpy")
    spec = tmp_path / "h.toml"
    spec.write_text(xor_spec(repeat=4, epochs=4, training_extra="""checkpoint = { every_epochs = 2, min_seconds = 0 }
callbacks = [{ type = "histograms", rows = 8, pngs = false, log_dir = "hist" }]"""))
    crash_at(14)  # 4 steps per epoch: in epoch 4, after epoch 3 was measured; continued from the end of epoch 2
    with pytest.raises(Crash):
        train_spec(spec, backend="numpy", out=tmp_path / "run", progress="quiet")
    crash_at(10**9)
    resume_run(tmp_path / "run", progress="quiet")
    [events] = list((tmp_path / "run" / "hist").glob("events.out.tfevents.*"))
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps = [e.step for e in EventFileLoader(str(events)).Load() if e.summary.value]
    assert steps == [0, 1, 2, 3, 4]
