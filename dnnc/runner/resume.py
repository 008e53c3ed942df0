"""``dnnc resume RUN_DIR``: continue a run from its checkpoint, exactly where it stopped.

A run killed at any moment (``kill -9`` mid-epoch, during validation, while a
checkpoint is written) or interrupted with Ctrl-C is continued from its
``checkpoint.npz`` (:mod:`dnnc.runner.checkpoint`) with the same IR, data,
callbacks and backend, and ends with the weights, history and test metrics
the uninterrupted run would have had, bit for bit (on the CPU; timings
differ).  A run that had not written a checkpoint yet starts again from its
initial weights, which gives the same result.

* ``epochs``: the total number of epochs; more than the run had extends it
  (also a completed run, from its last checkpoint, taken before
  ``on_train_end``).
* ``device``: continue on another device (default: the IR's ``training.device``, resolved again on this
  machine); the manifest records each resumption's device.  As for another backend, the backend's own
  dropout generator is not carried over to another kind of device (a warning says so).
* ``backend``: continue with another backend.  Checkpoints are canonical
  (weights and optimizer slots in dnnc's layout and names), so the run goes on
  along the same trajectory within the conformance tolerances; the backend's
  own dropout generator cannot be carried over, so without strict parity the
  dropout masks differ from there on (a warning says so).

The data files must be the ones the run started with (their SHA-256 is
compared with the manifest's).  The manifest records each interruption and
resumption (:mod:`dnnc.runner.records`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .api import (RunResult, backend_record, check_device_option, device_record, fit_and_record, get_backend,
                  load_datasets, starting_weights)
from .checkpoint import CHECKPOINT_FILE, Checkpoint, read_checkpoint
from .errors import RunnerError
from .progress import Progress
from .records import IR_FILE, MANIFEST, RunRecords, now_iso, read_run

#: Manifest statuses of runs that ended on their own.
FINISHED = ("completed", "stopped_early", "nan", "diverged")


def resume_run(
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    backend: str | None = None,
    data_dir: str | Path | None = None,
    progress: str | Progress = "rich",
    download: bool = True,
    console=None,
    device: str | None = None,
) -> RunResult:
    """Continue the run in `run_dir` (see the module docstring); returns what :func:`~dnnc.runner.train_spec` does."""
    run_dir = Path(run_dir)
    check_device_option(device)
    if not (run_dir / IR_FILE).is_file():
        raise RunnerError(f"{run_dir} is not a dnnc run directory (no {IR_FILE})")
    if not (run_dir / MANIFEST).is_file():
        raise RunnerError(f"{run_dir} has no {MANIFEST}: the run did not get far enough to be resumed")
    records = RunRecords(run_dir, continuing=True)  # refused while another process writes the run
    try:
        return _resume(records, epochs=epochs, backend=backend, data_dir=data_dir, progress=progress,
                       download=download, console=console, device=device)
    finally:
        records.close()


def _resume(records: RunRecords, *, epochs, backend, data_dir, progress, download, console, device) -> RunResult:
    run_dir = records.run_dir
    ir, manifest = read_run(run_dir)
    if ir.training is None:
        raise RunnerError(f"{run_dir}/{IR_FILE} has no training settings: nothing to resume")
    path = run_dir / CHECKPOINT_FILE
    ckpt = read_checkpoint(path) if path.is_file() else None
    total = int(epochs or manifest.get("epochs") or ir.training.epochs)
    _check_continuable(run_dir, manifest, ckpt, total, epochs is not None)

    chosen = get_backend(backend or manifest.get("backend", {}).get("name") or "", ir, device)
    base_dir = Path(manifest["spec_dir"]) if manifest.get("spec_dir") else None
    if data_dir is None and manifest.get("data_dir"):
        data_dir = manifest["data_dir"]
    datasets = load_datasets(ir, base_dir=base_dir, data_dir=data_dir, download=download)
    _check_same_data(manifest.get("data") or {}, datasets.meta)
    weights = ckpt.weights if ckpt is not None else starting_weights(ir, base_dir)[0]  # from the start
    model = chosen.build(ir, weights)

    records.load_manifest()
    for stray in run_dir.glob(f".{Path(CHECKPOINT_FILE).stem}.tmp-*"):
        stray.unlink(missing_ok=True)  # a checkpoint write cut short by the interruption
    status = manifest.get("status")
    interruptions = list(manifest.get("interruptions", []))
    if status not in FINISHED:
        interruptions.append({
            "detected": now_iso(), "status_found": status, "error": manifest.get("error"),
            "continued_from": ckpt.summary() if ckpt is not None else "the start (no checkpoint had been written)",
        })
    placed = device_record(chosen, model)
    resumption: dict[str, Any] = {
        "started": now_iso(), "backend": chosen.name, "device": placed["resolved"], "epochs": total,
        "from": ckpt.summary() if ckpt is not None else "the start",
    }
    previous = manifest.get("backend", {}).get("name")
    if previous != chosen.name:
        resumption["previous_backend"] = previous
    records.manifest.pop("error", None)
    previous_device = (manifest.get("device") or {}).get("resolved")
    if previous_device is not None and previous_device != placed["resolved"]:
        resumption["previous_device"] = previous_device
    records.update_manifest(status="running", epochs=total, backend=backend_record(chosen), device=placed,
                            interruptions=interruptions,
                            resumptions=[*manifest.get("resumptions", []), resumption])
    return fit_and_record(records, ir, chosen, model, datasets, epochs=total, progress=progress, console=console,
                          resume=ckpt)


def _check_continuable(run_dir: Path, manifest: dict, ckpt: Checkpoint | None, total: int, asked: bool) -> None:
    status = manifest.get("status")
    done = 0 if ckpt is None else ckpt.state.epoch + (1 if ckpt.step_in_epoch else 0)
    if ckpt is not None and ckpt.state.stop_reason is not None and status in FINISHED:
        raise RunnerError(f"{run_dir}: training stopped at epoch {ckpt.state.epoch} "
                          f"({ckpt.state.stop_reason.replace('_', ' ')}); there is nothing to continue")
    if status in FINISHED:
        if status != "completed":
            raise RunnerError(f"{run_dir}: the run ended with status {status!r}; there is nothing to continue")
        if ckpt is None:
            raise RunnerError(f"{run_dir}: the run completed and wrote no checkpoint ({CHECKPOINT_FILE}), so it "
                              "cannot be extended")
        if not asked or total <= done:
            raise RunnerError(f"{run_dir}: the run completed its {done} epochs; pass --epochs N with N > {done} "
                              "to train it further")
    if total < done:
        raise RunnerError(f"{run_dir}: the checkpoint is at epoch {done}, more than --epochs {total}")


def _check_same_data(recorded: dict, found: dict) -> None:
    """The data files must be the run's own: same roles, same SHA-256."""
    before = {f.get("role"): f.get("sha256") for f in recorded.get("files", [])}
    now = {f.get("role"): f.get("sha256") for f in found.get("files", [])}
    changed = sorted(role for role in before.keys() | now.keys() if before.get(role) != now.get(role))
    if changed:
        paths = {f.get("role"): f.get("path") for f in found.get("files", [])}
        listing = ", ".join(f"{role} ({paths.get(role, 'missing')})" for role in changed)
        raise RunnerError(f"the data changed since the run started: {listing} differ from the files recorded in "
                          f"the manifest (SHA-256), so the run cannot be continued exactly")


__all__ = ["resume_run"]
