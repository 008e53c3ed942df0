"""The run directory: everything needed to understand, reproduce and reuse a training run.

Default location: ``runs/<model name>/<YYYYmmdd-HHMMSS>-<backend>/`` under the
current directory (``-2``, ``-3``… appended if it exists).  Contents:

================================  ===============================================================
``spec.toml`` / ``spec.json``     byte copy of the spec file (``--set`` overrides are in the manifest)
``ir.json``                       the compiled IR (after overrides)
``manifest.json``                 versions, seed, backend, determinism settings, data files and
                                  their SHA-256, start/end time, status
``history.json``                  per-epoch history (:meth:`History.to_dict`)
``metrics.json``                  final test metrics (``test_loss``, ``test_accuracy``…)
``learning_curves.png``           loss and each metric, training vs validation
``model<suffix>``                 the final model saved by the backend (``.keras``, ``.pt``…)
``weights.npz``                   the final canonical weights (``"<node>/<param>"`` keys)
``train.log``                     a plain-text log: epoch lines, messages, test metrics
``checkpoint.npz``                the latest resumable training state (:mod:`dnnc.runner.checkpoint`)
checkpoints, tensorboard, csv     wherever the callbacks' relative paths put them
================================  ===============================================================

A resumed run (``dnnc resume``, :mod:`dnnc.runner.resume`) keeps its manifest and adds to it:
``interruptions`` (one entry per attempt that ended without finishing: the status it left, its
error, the checkpoint it was continued from) and ``resumptions`` (when, with which backend, from
which checkpoint, for how many epochs, and how each ended).

JSON files are written atomically (temp file + rename).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._version import __version__
from ..compiler.ir import ModelIR
from .callbacks.atomic import atomic_save_npz, atomic_text
from .curves import plot_learning_curves
from .history import History, json_float

MANIFEST = "manifest.json"
HISTORY = "history.json"
METRICS = "metrics.json"
IR_FILE = "ir.json"
WEIGHTS = "weights.npz"
CURVES = "learning_curves.png"
LOG_FILE = "train.log"

#: Environment variables that influence numerical determinism, recorded when set.
DETERMINISM_ENV = ("PYTHONHASHSEED", "TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS", "CUBLAS_WORKSPACE_CONFIG",
                   "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
_FRAMEWORKS = {"torch": "torch", "tensorflow": "tensorflow", "keras": "keras", "jax": "jax"}


def safe_name(name: str) -> str:
    """A file-system-friendly version of a model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


def default_run_dir(model_name: str, backend: str, root: str | Path = "runs", now: datetime | None = None) -> Path:
    """``root/<model>/<YYYYmmdd-HHMMSS>-<backend>``, made unique with ``-2``, ``-3``…"""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / safe_name(model_name) / f"{stamp}-{safe_name(backend)}"
    candidate, i = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{i}")
        i += 1
    return candidate


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def framework_versions() -> dict[str, str]:
    """Versions of numpy and of every deep-learning framework imported in this process."""
    versions = {"numpy": np.__version__}
    for module, dist in _FRAMEWORKS.items():
        if module in sys.modules:
            try:
                versions[module] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                versions[module] = getattr(sys.modules[module], "__version__", "?")
    return versions


def determinism_settings(strict_parity: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"strict_parity": bool(strict_parity),
                           "env": {k: os.environ[k] for k in DETERMINISM_ENV if k in os.environ}}
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            out["torch"] = {"deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
                            "num_threads": int(torch.get_num_threads())}
        except Exception:  # pragma: no cover - a partial torch install
            pass
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            out["tensorflow"] = {"op_determinism": bool(tf.config.experimental.is_op_determinism_enabled())}
        except Exception:  # pragma: no cover
            pass
    return out


def _json_default(value):
    if isinstance(value, (np.floating, float)):
        return json_float(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def dump_json(data: Any) -> str:
    return json.dumps(_clean(data), indent=2, default=_json_default, allow_nan=False) + "\n"


def _clean(value):
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class RunRecords:
    """Writes the files of one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.manifest: dict[str, Any] = {}
        self._started = time.perf_counter()

    def path(self, name: str) -> Path:
        return self.run_dir / name

    def write_json(self, name: str, data: Any) -> Path:
        return atomic_text(self.path(name), dump_json(data))

    def copy_spec(self, spec_path: str | Path) -> Path:
        spec_path = Path(spec_path)
        target = self.path("spec" + spec_path.suffix.lower())
        shutil.copyfile(spec_path, target)
        return target

    def write_ir(self, ir: ModelIR) -> Path:
        return atomic_text(self.path(IR_FILE), ir.to_json() + "\n")

    def start_manifest(self, **fields: Any) -> Path:
        self.manifest = {"dnnc_version": __version__, "status": "running", "started": now_iso(), **fields}
        return self.write_json(MANIFEST, self.manifest)

    def load_manifest(self) -> dict[str, Any]:
        """Read the existing manifest (a resumed run adds to it); {} when there is none."""
        path = self.path(MANIFEST)
        self.manifest = json.loads(path.read_text()) if path.is_file() else {}
        return self.manifest

    def update_manifest(self, **fields: Any) -> Path:
        self.manifest.update(fields)
        return self.write_json(MANIFEST, self.manifest)

    def finish_manifest(self, status: str, **fields: Any) -> Path:
        finished, seconds = now_iso(), round(time.perf_counter() - self._started, 3)
        if self.manifest.get("resumptions"):  # how the latest attempt ended
            self.manifest["resumptions"][-1].update(status=status, finished=finished, wall_seconds=seconds)
        return self.update_manifest(status=status, finished=finished, wall_seconds=seconds, **fields)

    def write_history(self, history: History) -> Path:
        return self.write_json(HISTORY, history.to_dict())

    def write_metrics(self, metrics: Mapping[str, float]) -> Path:
        return self.write_json(METRICS, dict(metrics))

    def save_weights(self, weights: Mapping[str, np.ndarray]) -> Path:
        return atomic_save_npz(self.path(WEIGHTS), weights)

    def save_model(self, model, suffix: str) -> list[Path]:
        return [Path(p) for p in (model.save(self.path("model" + suffix)) or [])]

    def plot_curves(self, history: History, title: str | None = None) -> Path | None:
        return plot_learning_curves(history, self.path(CURVES), title)


def read_run(run_dir: str | Path) -> tuple[ModelIR, dict[str, Any]]:
    """(IR, manifest) of a run directory."""
    run_dir = Path(run_dir)
    ir = ModelIR.from_json((run_dir / IR_FILE).read_text(), source=str(run_dir / IR_FILE))
    manifest_path = run_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return ir, manifest


def system_info() -> dict[str, str]:
    return {"python": platform.python_version(), "platform": platform.platform()}
