"""The run directory: everything needed to understand, reproduce and reuse a training run.

Default location: ``runs/<model name>/<YYYYmmdd-HHMMSS>-<backend>/`` under the
current directory (``-2``, ``-3``… appended if it exists).  Contents:

================================  ===============================================================
``spec.toml`` / ``spec.json``     byte copy of the spec file (``--set`` overrides are in the manifest)
``ir.json``                       the compiled IR (after overrides)
``manifest.json``                 versions, seed, backend, determinism settings, data files and
                                  their SHA-256, start/end time, status, the time of each phase
                                  (``phases``, :mod:`dnnc.runner.phases`)
``history.json``                  per-epoch history (:meth:`History.to_dict`)
``metrics.json``                  final test metrics (``test_loss``, ``test_accuracy``…)
``learning_curves.png``           loss and each metric, training vs validation
``model<suffix>``                 the final model saved by the backend (``.keras``, ``.pt``…; the torch
                                  backend's ``.pt2`` program is written by ``dnnc export --format pt2``)
``weights.npz``                   the final canonical weights (``"<node>/<param>"`` keys)
``train.log``                     a plain-text log: epoch lines, messages, test metrics
``checkpoint.npz``                the latest resumable training state (:mod:`dnnc.runner.checkpoint`)
checkpoints, tensorboard, csv     wherever the callbacks' relative paths put them
================================  ===============================================================

A resumed run (``dnnc resume``, :mod:`dnnc.runner.resume`) keeps its manifest and adds to it:
``interruptions`` (one entry per attempt that ended without finishing: the status it left, its
error, the checkpoint it was continued from) and ``resumptions`` (when, with which backend, from
which checkpoint, for how many epochs, and how each ended).

JSON files are written atomically (temp file + rename).  Every file follows the process's umask.

One writer at a time: a run holds the directory's lock while it writes
(:mod:`dnnc.runner.run_lock`), and a directory that already holds a run is
only written again with ``overwrite=True`` (``--overwrite``), which first
removes the old run's files; a non-empty directory that holds no run is never
written into.  :func:`read_run` and :func:`read_weights` check what they read
and raise :class:`~dnnc.runner.errors.RunnerError` naming the file and the problem.
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
import zipfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .._version import __version__
from ..compiler.ir import ModelIR
from .callbacks.atomic import atomic_save_npz, atomic_text
from .curves import plot_learning_curves
from .errors import RunnerError
from .history import History, json_float
from .run_lock import LOCK_NAME, RunLock

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
        try:  # whether TensorFlow runs its oneDNN kernels (TF_ENABLE_ONEDNN_OPTS; on by default on x86 Linux)
            from tensorflow.python.util import _pywrap_util_port

            out.setdefault("tensorflow", {})["onednn"] = bool(_pywrap_util_port.IsMklEnabled())
        except Exception:  # pragma: no cover - a private API that moved
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


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OS error while writing ``path`` into a RunnerError naming it (disk full, permissions…)."""
    try:
        yield
    except OSError as exc:
        raise RunnerError(f"cannot write {path}: {exc.strerror or exc}") from None


def _make_run_dir(run_dir: Path) -> bool:
    """Create ``run_dir`` (and its parents); return whether it was created. RunnerError if it cannot be."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunnerError(f"the run directory {run_dir} exists and is a file, not a directory; choose another --out")
    existed = run_dir.is_dir()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        raise RunnerError(f"cannot create the run directory {run_dir}: a part of that path is a file") from None
    except OSError as exc:
        raise RunnerError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}") from None
    return not existed


def _claim(run_dir: Path, overwrite: bool) -> None:
    """Refuse a directory holding something else than a finished run unless it may be replaced; clear it then."""
    entries = sorted(e for e in run_dir.iterdir() if e.name != LOCK_NAME)
    if not entries:
        return
    if not ((run_dir / MANIFEST).exists() or (run_dir / IR_FILE).exists()):
        raise RunnerError(f"{run_dir} is not empty and holds no dnnc run ({len(entries)} entries, e.g. "
                          f"{entries[0].name!r}); choose a new or empty directory for --out")
    if not overwrite:
        raise RunnerError(f"{run_dir} already holds a run ({_describe_run(run_dir)}); pass --overwrite to replace "
                          "it, or choose another --out")
    for entry in entries:
        with writing(entry):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _describe_run(run_dir: Path) -> str:
    try:
        manifest = read_manifest(run_dir / MANIFEST)
    except RunnerError:
        return f"its {MANIFEST} cannot be read"
    backend = manifest.get("backend", {}).get("name", "?")
    return f"status {manifest.get('status', '?')!r}, backend {backend}, started {manifest.get('started', '?')}"


class RunRecords:
    """Writes the files of one run directory, holding its lock from creation to :meth:`close`.

    Raises :class:`~dnnc.runner.errors.RunnerError` if the directory cannot be created or written, another
    run is writing it (:class:`~dnnc.runner.run_lock.RunDirLocked`), or it holds a run and ``overwrite`` is
    false.  ``continuing=True`` (``dnnc resume``) takes the lock of the run already in the directory and
    keeps its files.
    """

    def __init__(self, run_dir: str | Path, *, overwrite: bool = False, fresh: bool = False,
                 continuing: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self._created = _make_run_dir(self.run_dir) or fresh  # fresh: the caller just created it for this run
        with writing(self.run_dir / LOCK_NAME):
            self.lock = RunLock.acquire(self.run_dir)
        try:
            if not continuing:
                _claim(self.run_dir, overwrite)
        except BaseException:
            self.lock.release()
            raise
        self.manifest: dict[str, Any] = {}
        self._started = time.perf_counter()

    def close(self) -> None:
        """Release the directory's lock (idempotent)."""
        self.lock.release()

    def discard(self) -> None:
        """Give the directory up before anything was written: release the lock, remove it if it was created."""
        self.close()
        if self._created:
            try:
                self.run_dir.rmdir()
            except OSError:
                pass

    def path(self, name: str) -> Path:
        return self.run_dir / name

    def write_json(self, name: str, data: Any) -> Path:
        with writing(self.path(name)):
            return atomic_text(self.path(name), dump_json(data))

    def copy_spec(self, spec_path: str | Path) -> Path:
        spec_path = Path(spec_path)
        target = self.path("spec" + spec_path.suffix.lower())
        with writing(target):
            shutil.copyfile(spec_path, target)
        return target

    def write_ir(self, ir: ModelIR) -> Path:
        with writing(self.path(IR_FILE)):
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
        with writing(self.path(WEIGHTS)):
            return atomic_save_npz(self.path(WEIGHTS), weights)

    def save_model(self, model, suffix: str) -> list[Path]:
        with writing(self.path("model" + suffix)):
            return [Path(p) for p in (model.save(self.path("model" + suffix)) or [])]

    def plot_curves(self, history: History, title: str | None = None) -> Path | None:
        with writing(self.path(CURVES)):
            return plot_learning_curves(history, self.path(CURVES), title)


def read_run(run_dir: str | Path) -> tuple[ModelIR, dict[str, Any]]:
    """(IR, manifest) of a run directory; RunnerError naming the file if either cannot be used."""
    run_dir = Path(run_dir)
    ir_path = run_dir / IR_FILE
    try:
        text = ir_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunnerError(f"cannot read {ir_path}: {getattr(exc, 'strerror', None) or exc}") from None
    ir = ModelIR.from_json(text, source=str(ir_path))  # IRError (a user error) names the file, node and field
    manifest_path = run_dir / MANIFEST
    manifest = read_manifest(manifest_path) if manifest_path.exists() else {}
    return ir, manifest


#: Manifest keys that readers use, with the JSON types they must have (None: null allowed).
_MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,), "started": (str,), "spec_dir": (str, type(None)), "data_dir": (str, type(None)),
    "backend": (dict,), "data": (dict, type(None)), "seed": (int,),
}
_JSON_TYPE_NAMES = {str: "a string", dict: "an object", int: "an integer", type(None): "null", list: "an array",
                    float: "a number", bool: "true or false"}


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A run's manifest.json, checked: valid JSON, an object, and the keys readers use of the right types."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunnerError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise RunnerError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise RunnerError(f"{path}: must hold a JSON object, found {_JSON_TYPE_NAMES.get(type(data), type(data).__name__)}")
    for key, types in _MANIFEST_TYPES.items():
        if key in data and (not isinstance(data[key], types) or (int in types and isinstance(data[key], bool))):
            wanted = " or ".join(_JSON_TYPE_NAMES[t] for t in types)
            found = _JSON_TYPE_NAMES.get(type(data[key]), type(data[key]).__name__)
            raise RunnerError(f"{path}: {key!r} must be {wanted}, found {found}")
    backend = data.get("backend", {})
    if "name" in backend and not isinstance(backend["name"], str):
        raise RunnerError(f"{path}: 'backend.name' must be a string, found {_JSON_TYPE_NAMES.get(type(backend['name']), '?')}")
    standardize = (data.get("data") or {}).get("standardize")
    if standardize is not None:
        _check_standardize(path, standardize)
    return data


def _check_standardize(path: Path, standardize: Any) -> None:
    if not isinstance(standardize, dict):
        raise RunnerError(f"{path}: 'data.standardize' must be an object input name → {{mean, std}}")
    for name, stats in standardize.items():
        for part in ("mean", "std"):
            try:
                values = np.asarray(stats[part], dtype=np.float64)
            except (TypeError, KeyError, ValueError, IndexError):
                raise RunnerError(f"{path}: 'data.standardize.{name}.{part}' must be an array of numbers") from None
            if not np.all(np.isfinite(values)):
                raise RunnerError(f"{path}: 'data.standardize.{name}.{part}' holds non-finite numbers")


def read_weights(path: str | Path, ir: ModelIR) -> dict[str, np.ndarray]:
    """The canonical weights of ``ir`` from an .npz file (weights.npz, a checkpoint), checked: a readable
    archive of numeric arrays (no pickled objects), exactly the model's keys, the model's shapes."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise RunnerError(f"cannot read {path} as a .npz archive of weights: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise RunnerError(f"{path} holds a single array (.npy), not a .npz archive of named weights")
    weights: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            try:
                array = archive[key]
            except ValueError as exc:  # object arrays need pickle, which is never allowed
                raise RunnerError(f"{path}: array {key!r} cannot be loaded ({exc}); dnnc writes numeric arrays "
                                  "only") from None
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                raise RunnerError(f"{path}: array {key!r} is damaged ({exc})") from None
            if array.dtype.kind not in "fiu":
                raise RunnerError(f"{path}: array {key!r} holds {array.dtype} values, not numbers")
            weights[key] = array
    expected = {key: tuple(p.shape) for key, _, p in ir.weight_specs()}
    missing = sorted(set(expected) - set(weights))
    unknown = sorted(set(weights) - set(expected))
    if missing or unknown:
        raise RunnerError(f"{path} does not hold the weights of model {ir.name!r}: missing {missing or 'none'}, "
                          f"unknown {unknown or 'none'}")
    for key, shape in expected.items():
        if weights[key].shape != shape:
            raise RunnerError(f"{path}: weight {key!r} has shape {weights[key].shape}, the model's is {shape}")
    return weights


def system_info() -> dict[str, str]:
    return {"python": platform.python_version(), "platform": platform.platform()}
