"""`dnnc resume` after `kill -9` at random moments reproduces the uninterrupted run bit for bit, on every backend.

Each backend trains a tiny spec (frozen layers unfrozen after two epochs with a new learning rate, batch
norm, framework-drawn dropout, Adam, early stopping with best-weight restoring, reduce-on-plateau, a
best-only model checkpoint and a CSV log) with checkpoints every 3 steps and at every epoch end.  The
run is killed five times — right after a training step, during validation or test evaluation, between
writing a checkpoint and renaming it, before some atomic rename, and at a random time (in the first
process, whose steps the driver slows) — each time in a
fresh process (the first one `dnnc train`, the others `dnnc resume`), then resumed to the end.  Final
weights, the history, the test metrics and the CSV log must equal those of an uninterrupted run in
another process, exactly.  The moments are drawn from a seeded generator (printed on failure).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.paths import ROOT as REPO_ROOT

DRIVER = Path(__file__).resolve().parents[1] / "support" / "kill_driver.py"

SPEC = """
name = "kill-test"
[data]
dataset = { type = "xor", repeat = 8, noise = 0.15 }
validation_split = 0.25
[model]
input_shape = [2]
layers = [
  { type = "dense", name = "hidden", units = 8, activation = "relu", trainable = false },
  { type = "batch_norm", name = "norm", trainable = false },
  { type = "dense", units = 8, activation = "relu" },
  { type = "dropout", rate = 0.25 },
  { type = "dense", name = "out", units = 1, activation = "sigmoid" },
]
[training]
loss = "binary_crossentropy"
metrics = ["accuracy"]
optimizer = { type = "adam", learning_rate = 0.05 }
batch_size = 4
epochs = 6
checkpoint = { every_steps = 3, every_epochs = 1, min_seconds = 0 }
callbacks = [
  { type = "unfreeze", after_epochs = 2, learning_rate = 0.02 },
  { type = "early_stopping", monitor = "val_loss", patience = 20, restore_best_weights = true },
  { type = "reduce_lr_on_plateau", patience = 1, factor = 0.5 },
  { type = "model_checkpoint", path = "best.npz", save_best_only = true },
  { type = "csv_logger" },
]
"""

#: (kind, largest N): every kind is reachable with N up to the bound in the first epochs a process runs
#: (the timer in the first process, whose steps the driver slows to outlast 1.5 s).
KILL_POINTS = {"train_step": 5, "evaluate_step": 3, "checkpoint": 3, "replace": 4, "timer": 15}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO_ROOT), str(REPO_ROOT / "examples" / "plugins" / "dnnc-numpy"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["DNNC_OFFLINE"] = "1"
    return env


def _dnnc(point: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DRIVER), point, "--", *args, "--quiet"], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)


def _result(run: Path) -> dict:
    with np.load(run / "weights.npz") as w:
        weights = {k: w[k] for k in w.files}
    history = json.loads((run / "history.json").read_text())
    return {"weights": weights, "history": history["history"], "epochs": history["epochs"],
            "steps": history["steps"], "test": json.loads((run / "metrics.json").read_text()),
            "csv": (run / "history.csv").read_text(), "best": (run / "best.npz").read_bytes()}


@pytest.mark.parametrize("backend", ["numpy", "torch", "keras"])
def test_resume_after_kill_9_at_random_moments_is_exact(tmp_path, backend):
    from dnnc.plugins.manager import get_registry

    found = get_registry().backends.get(backend)
    if found is None or not found.status()[0]:  # status() imports no framework
        pytest.skip(f"backend {backend!r} is not available")
    (tmp_path / "spec.toml").write_text(SPEC)
    seed = {"numpy": 11, "torch": 12, "keras": 13}[backend]
    rng = random.Random(seed)
    # the timer kill goes to the first process, which has all 36 steps ahead of it (see kill_driver.py)
    kinds = [kind for kind in KILL_POINTS if kind != "timer"]
    rng.shuffle(kinds)
    kinds.insert(0, "timer")
    plan = [f"{kind}:{rng.randint(1, KILL_POINTS[kind])}" for kind in kinds]

    reference = _dnnc("none", "train", "spec.toml", "--backend", backend, "--out", "reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    log = []
    for i, point in enumerate(plan):
        args = ("train", "spec.toml", "--backend", backend, "--out", "run") if i == 0 else ("resume", "run")
        proc = _dnnc(point, *args, cwd=tmp_path)
        log.append((point, proc.returncode, proc.stderr[-500:]))
        assert proc.returncode == -9, f"seed {seed}, plan {plan}: {point} did not kill the run: {log}"
    final = _dnnc("none", "resume", "run", cwd=tmp_path)
    assert final.returncode == 0, f"seed {seed}, plan {plan}: {final.stderr}"

    want, got = _result(tmp_path / "reference"), _result(tmp_path / "run")
    assert got["history"] == want["history"] and got["epochs"] == want["epochs"] and got["steps"] == want["steps"]
    assert got["test"] == want["test"]
    assert got["csv"] == want["csv"]
    assert got["best"] == want["best"]
    assert set(got["weights"]) == set(want["weights"])
    for key, value in want["weights"].items():
        np.testing.assert_array_equal(got["weights"][key], value, err_msg=key)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    # an attempt killed before it could record itself (a kill at its own manifest write) leaves no entry
    assert 1 <= len(manifest["interruptions"]) <= len(plan)
    assert len(manifest["resumptions"]) == len(manifest["interruptions"])
    assert manifest["resumptions"][-1]["status"] == "completed"
    assert not list((tmp_path / "run").glob(".checkpoint.tmp-*"))
