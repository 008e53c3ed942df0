"""The Python API of the runner: train a spec, evaluate a run, predict with it.

    from dnnc.runner import train_spec, evaluate_run, predict
    result = train_spec("examples/mnist_bn_dropout.toml", backend="torch", epochs=2,
                        overrides=["training.optimizer.learning_rate=0.01"])
    result.test_metrics        # {"test_loss": …, "test_accuracy": …}
    evaluate_run(result.run_dir)
    predict(result.run_dir, "digit.png")["dense_3"]   # class probabilities, one row per image

No framework is imported until a backend builds a model.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..backends.base import Backend, BackendError, CompiledModel, check_supported
from ..backends.devices import (ALLOWED_TEXT, PlacedBackend, device_aware, is_device_name, place, requested_device,
                                resolve_device)
from ..compiler.compile import compile_spec, located_error
from ..compiler.errors import SpecError, SpecIssue
from ..compiler.initial_weights import initial_weights
from ..compiler.embedding_ops import token_inputs
from ..compiler.ir import ModelIR
from ..compiler.source import SpecSource, load_source
from ..numerics.heads import apply_head
from .callbacks.base import Callback
from .callbacks.factory import build_callbacks
from .checksums import sha256_file
from .curves import preload_matplotlib
from .context import CallbackContext
from .datasets import Datasets
from .datasets.load import load_raw
from .datasets.prepare import prepare
from .data_checks import check_finite, check_raw, check_split, data_warnings
from .divergence import DivergenceWatch
from .errors import RunnerError
from .executor import LocalExecutor
from .history import History
from .inputs import preprocess, read_raw_inputs
from .loop import Trainer, evaluate_split
from .metrics import MetricSet
from .overrides import apply_overrides, attribute_issues
from .phases import Phases
from .progress import Progress, TeeProgress, TextLogProgress, make_progress
from .checkpoint import CHECKPOINT_FILE, Checkpoint, CheckpointWriter
from .transfer import TransferReport, transfer_weights
from .records import (IR_FILE, LOG_FILE, MANIFEST, WEIGHTS, RunRecords, default_run_dir, determinism_settings,
                      framework_versions, read_run, read_weights, system_info, writing)
from .resources import check_memory


@dataclass
class RunResult:
    """What :func:`train_spec` returns."""

    run_dir: Path
    ir: ModelIR
    backend: str
    model: CompiledModel
    history: History
    test_metrics: dict[str, float]
    status: str
    """``"completed"``, ``"stopped_early"`` (a callback stopped training), ``"nan"`` (terminate_on_nan) or
    ``"diverged"`` (the loss became NaN or infinite and training went on)."""
    files: dict[str, Path] = field(default_factory=dict)
    diverged_at: str | None = None
    """Where the loss first stopped being finite (``'epoch 3, step 17 (global step 217)'``), if it did."""


# --------------------------------------------------------------------------
# pieces
# --------------------------------------------------------------------------


def compile_with_overrides(spec_path: str | Path, overrides: Sequence[str] = ()) -> tuple[SpecSource, ModelIR]:
    """Parse the spec file, apply ``--set`` overrides to the parsed data, then validate and lower it."""
    source = load_source(spec_path)
    data, applied = apply_overrides(source.data, overrides)
    if applied:
        source = replace(source, data=data)
    try:
        return source, compile_spec(source)
    except SpecError as exc:
        raise attribute_issues(exc, applied) from None


def get_backend(name: str, ir: ModelIR | None = None, device: str | None = None) -> Backend | PlacedBackend:
    """The registered backend ``name``, checked to be available (and to support ``ir``'s ops).

    With an IR or a `device`, the backend placed on a device (:class:`~dnnc.backends.devices.PlacedBackend`):
    `device`, else the IR's ``training.device``, resolved on this machine (a DeviceError, exit 1, when it
    does not have it); its ``build`` and ``load`` put the model there."""
    from ..plugins.manager import get_registry

    backend = get_registry().available_backend(name)
    if ir is not None:
        check_supported(backend, ir)
    if ir is None and device is None:
        return backend
    return place(backend, device if device is not None else requested_device(ir))


def check_device_option(device: str | None, option: str = "--device") -> None:
    """A SpecError (exit 2: where, received, allowed) unless `device` is None or a device name."""
    if device is not None and not is_device_name(device):
        raise SpecError([SpecIssue(path=("training", "device"), message="not a device", received=device,
                                   allowed=ALLOWED_TEXT, file=option, kind="override")])


def device_record(backend: Backend | PlacedBackend, model: CompiledModel | None = None) -> dict[str, str]:
    """The manifest's ``device`` entry: the device asked for and the concrete one the model runs on."""
    if isinstance(backend, PlacedBackend):
        record = backend.record()
    else:
        record = {"requested": "auto", "resolved": "cpu"}
    resolved = getattr(model, "device", None)
    if resolved is not None:
        record["resolved"] = str(resolved)
    return record


def compile_record(ir: ModelIR, model: CompiledModel) -> dict[str, Any]:
    """The manifest's ``compile`` entry: whether the spec asked for a compiled training step and how the backend
    compiled it (None: it runs the step uncompiled, e.g. a backend without a compiler)."""
    return {"requested": bool(ir.training is not None and ir.training.compile),
            "compiled": getattr(model, "compiled", None)}


def load_datasets(ir: ModelIR, *, base_dir: Path | None, data_dir: Path | None = None, download: bool = True) -> Datasets:
    """The data of ``ir.data``, prepared for the model's inputs and outputs, with its values checked
    (:func:`~dnnc.runner.data_checks.check_raw`, :func:`~dnnc.runner.data_checks.check_finite`).

    The data table is validated with the installed vocabulary, so dataset types added by
    plugins load through their `DatasetType.load`; a table the installed plugins do not
    accept (a dataset type since uninstalled, or now registered by two plugins) is a RunnerError.
    """
    from ..compiler.validate import validate_data
    from ..plugins.manager import get_registry

    if ir.data is None:
        raise RunnerError(f"model {ir.name!r} has no [data] table: nothing says what to train on")
    registry = get_registry()
    data_model = registry.spec_model().model_fields["data"].annotation.__args__[0]
    spec, issues = validate_data(dict(ir.data), data_model)
    if issues:
        raise RunnerError(f"the data table of model {ir.name!r} is not valid with the installed plugins: "
                          + "; ".join(("data." + i.render()) if i.path else i.render() for i in issues))
    loaders = {name: t.load for name, t in registry.datasets.items() if t.load is not None}
    seed = ir.training.seed if ir.training is not None else 0
    raw = load_raw(
        spec, base_dir=base_dir, data_dir=None if data_dir is None else Path(data_dir), seed=seed,
        input_names=list(ir.inputs), output_names=[o.name for o in ir.outputs], download=download, loaders=loaders,
    )
    check_raw(ir, raw)
    datasets = prepare(raw, spec, seed=seed, input_shapes={name: ir.node(name).shape for name in ir.inputs},
                       token_limits=token_inputs(ir))
    check_finite(datasets)
    return datasets


def starting_weights(ir: ModelIR, base_dir: Path | None, source: SpecSource | None = None, *, seed: int | None = None
                     ) -> tuple[dict[str, np.ndarray], TransferReport | None]:
    """The weights a model starts from: drawn from the seed (default: the training seed), then the layers of
    ``model.init_from`` copied in (:mod:`dnnc.runner.transfer`; its spec errors located in `source`)."""
    weights = initial_weights(ir, seed)
    try:
        return transfer_weights(ir, weights, base_dir)
    except SpecError as exc:
        if source is None:
            raise
        raise located_error(source, exc.issues) from None


def _status(history: History) -> str:
    if history.stop_reason == "nan":
        return "nan"
    return "stopped_early" if history.stop_reason else "completed"


# --------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------


def open_run_dir(out: str | Path | None, model_name: str, backend: str, runs_root: str | Path = "runs", *,
                 overwrite: bool = False) -> RunRecords:
    """The records of a new run, holding its directory's lock: ``out``, or a fresh default directory
    (``<runs_root>/<model>/<YYYYmmdd-HHMMSS>-<backend>``, created atomically so that two runs started in the
    same second get two directories)."""
    if out is not None:
        return RunRecords(Path(out), overwrite=overwrite)
    while True:
        run_dir = default_run_dir(model_name, backend, runs_root)
        with writing(run_dir):
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                run_dir.mkdir()
            except FileExistsError:
                continue  # another run took it since default_run_dir looked
        return RunRecords(run_dir, fresh=True)


def train_spec(
    spec_path: str | Path,
    *,
    backend: str,
    epochs: int | None = None,
    seed: int | None = None,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    overrides: Iterable[str] = (),
    progress: str | Progress = "rich",
    download: bool = True,
    runs_root: str | Path = "runs",
    console=None,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
    data_loader: Callable[..., Datasets] | None = None,
    artifacts: bool = True,
    device: str | None = None,
) -> RunResult:
    """Compile, load the data, build, train, test and record one run; see :mod:`dnnc.runner.records`.

    ``epochs`` / ``seed`` are shorthands for ``--set training.epochs=…`` / ``training.seed=…``
    (applied after ``overrides``, validated like the file).  ``out`` is the run
    directory (default ``<runs_root>/<model>/<YYYYmmdd-HHMMSS>-<backend>``); one that already holds a
    run is replaced only with ``overwrite``.  The directory is claimed (locked) before the data is loaded.
    ``callbacks`` run after the spec's own (``dnnc tune`` adds its pruning callback);
    ``data_loader`` replaces :func:`load_datasets` (same arguments; ``dnnc tune``'s
    workers pass one that keeps the data of earlier trials).  ``artifacts=False`` skips the
    backend's native model file and learning_curves.png (weights.npz is still written, so
    ``evaluate`` and ``predict`` work; ``dnnc tune`` trials use it).  ``device`` is a shorthand for
    ``--set training.device=…`` (``--device``; the manifest records it and the concrete device it resolved to).
    """
    overrides = list(overrides)
    check_device_option(device)
    if device is not None:
        overrides.append(f'training.device="{device}"')
    if epochs is not None:
        overrides.append(f"training.epochs={int(epochs)}")
    if seed is not None:
        overrides.append(f"training.seed={int(seed)}")
    spec_path = Path(spec_path)
    phases = Phases()
    with phases.phase("compile"):
        source, ir = compile_with_overrides(spec_path, overrides)
    if ir.training is None:
        raise RunnerError(f"{spec_path} has no [training] table: nothing says how to train the model")
    if not all(o.loss is not None for o in ir.outputs):
        raise RunnerError(f"{spec_path}: every output needs a loss to train")
    check_memory(ir, "train")  # before the data and the weights are allocated
    base_dir = spec_path.resolve().parent
    records = open_run_dir(out, ir.name, backend, runs_root, overwrite=overwrite)
    try:
        if artifacts:
            preload_matplotlib()  # learning_curves.png's imports, in a thread while the data loads
        with phases.phase("data"):
            datasets = (data_loader or load_datasets)(ir, base_dir=base_dir, data_dir=data_dir, download=download)
            for part, rows in (("training", datasets.train), ("validation", datasets.validation), ("test", datasets.test)):
                if rows is not None:
                    check_split(ir, rows, part)  # before anything is written
        with phases.phase("backend_build"):
            chosen = get_backend(backend, ir)
        with phases.phase("weights_init"):
            weights, transfer = starting_weights(ir, base_dir, source)
        with phases.phase("backend_build"):
            model = chosen.build(ir, weights)
    except BaseException:
        records.discard()
        raise
    try:
        with phases.phase("records_start"):
            records.copy_spec(spec_path)
            records.write_ir(ir)
            records.start_manifest(
                model=ir.name,
                spec={"path": str(spec_path.resolve()), "sha256": sha256_file(spec_path), "overrides": overrides},
                spec_dir=str(base_dir),
                data_dir=None if data_dir is None else str(Path(data_dir).resolve()),
                backend=backend_record(chosen),
                device=device_record(chosen, model),
                compile=compile_record(ir, model),
                frameworks=framework_versions(),
                **system_info(),
                seed=ir.training.seed,
                epochs=ir.training.epochs,
                batch_size=ir.training.batch_size,
                determinism=determinism_settings(ir.training.strict_parity),
                data=datasets.meta,
                **({"init_from": transfer.to_dict()} if transfer is not None else {}),
            )
        return fit_and_record(records, ir, chosen, model, datasets, epochs=ir.training.epochs, progress=progress,
                              console=console, notes=transfer.lines() if transfer is not None else (),
                              callbacks=callbacks, artifacts=artifacts, phases=phases)
    finally:
        records.close()


def backend_record(backend: Backend | PlacedBackend) -> dict[str, Any]:
    """The manifest's ``backend`` entry."""
    return {"name": backend.name, "status": backend.status()[1], "artifact_suffix": backend.artifact_suffix}


def fit_and_record(records: RunRecords, ir: ModelIR, backend: Backend, model: CompiledModel, datasets: Datasets, *,
                   epochs: int, progress: str | Progress = "rich", console=None,
                   resume: "Checkpoint | None" = None, notes: Sequence[str] = (),
                   callbacks: Sequence[Callback] = (), artifacts: bool = True,
                   phases: Phases | None = None) -> RunResult:
    """Train (or, with `resume`, continue) `model` with the spec's callbacks (then `callbacks`), write the run's
    result files and finish the manifest (status ``failed`` / ``interrupted`` on an exception, which is
    re-raised).  `notes` are shown (and logged) first; ``artifacts=False`` skips the native model file and the
    learning-curve plot (see :func:`train_spec`).  `phases` (:mod:`dnnc.runner.phases`; a new record when None)
    gets the times of the training, the test evaluation and each file, and goes into the manifest.  The caller
    holds the directory's lock and releases it."""
    phases = phases if phases is not None else Phases()
    run_dir = records.run_dir
    shown = make_progress(progress, console) if isinstance(progress, str) else progress
    with writing(records.path(LOG_FILE)):
        reporter = TeeProgress(shown, TextLogProgress(records.path(LOG_FILE)))
    if records.lock.taken_over is not None:
        reporter.message(f"took over the lock of {run_dir} left by a run that ended without releasing it "
                         f"({records.lock.taken_over.describe()})", "warning")
    for warning in data_warnings(datasets.meta):
        reporter.message(warning, "warning")
    for line in notes:
        reporter.message(line)
    context = CallbackContext(ir=ir, run_dir=run_dir, message=lambda text: reporter.message(text, "info"))
    config = ir.training.checkpoint
    checkpoints = (CheckpointWriter(records.path(CHECKPOINT_FILE), config)
                   if config is not None and config.enabled else None)
    if resume is None:
        records.path(CHECKPOINT_FILE).unlink(missing_ok=True)  # a fresh run: nothing to resume from yet
    trainer = None
    watch = DivergenceWatch()
    try:
        all_callbacks = [*build_callbacks(ir.training.callbacks, context), *callbacks, watch]
        trainer = Trainer(model, ir, datasets, epochs=epochs, callbacks=all_callbacks, progress=reporter,
                          run_dir=run_dir, artifact_suffix=backend.artifact_suffix, checkpoints=checkpoints,
                          resume=resume, phases=phases)
        history = trainer.fit()
    except BaseException as exc:
        reporter.close()
        if trainer is not None and trainer.history.epochs:
            records.write_history(trainer.history)  # the epochs finished before the failure
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        records.finish_manifest(status, error=f"{type(exc).__name__}: {exc}", phases=phases.to_dict())
        raise
    files: dict[str, Path] = {}
    with phases.phase("history"):
        files["history"] = records.write_history(history)
    with phases.phase("metrics"):
        files["metrics"] = records.write_metrics(history.test)
    with phases.phase("weights"):
        files["weights"] = records.save_weights(model.get_weights())
    if artifacts:
        with phases.phase("model"):
            saved = records.save_model(model, backend.artifact_suffix)
        if saved:
            files["model"] = saved[0]
        with phases.phase("learning_curves"):
            curves = records.plot_curves(history, title=f"{ir.name} ({backend.name})")
        if curves is not None:
            files["learning_curves"] = curves
    if checkpoints is not None and records.path(CHECKPOINT_FILE).is_file():
        files["checkpoint"] = records.path(CHECKPOINT_FILE)
    status = _status(history)
    extra = {}
    if watch.first is not None and status != "nan":
        status, extra = "diverged", {"diverged_at": watch.describe()}
    records.finish_manifest(status, frameworks=framework_versions(), steps=history.steps,
                            epochs_run=len(history.epochs), test_metrics=history.test, **extra,
                            phases=phases.to_dict())
    files["manifest"] = records.path(MANIFEST)
    return RunResult(run_dir=run_dir, ir=ir, backend=backend.name, model=model, history=history,
                     test_metrics=dict(history.test), status=status, files=files, diverged_at=watch.describe())


# --------------------------------------------------------------------------
# evaluate / predict
# --------------------------------------------------------------------------


def _find_run_dir(path: Path) -> Path | None:
    for candidate in (path.parent, path.parent.parent, path.parent.parent.parent):
        if (candidate / IR_FILE).is_file():
            return candidate
    return None


def _is_npz(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _holds_weights_of(path: Path, run_dir: Path) -> bool:
    """True if ``path`` is an .npz archive of exactly the run's canonical weight keys (weights.npz, a checkpoint)."""
    if not _is_npz(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False
    ir = read_run(run_dir)[0]
    return keys == {key for key, _, _ in ir.weight_specs()}


def load_run_model(target: str | Path, backend: str | None = None, device: str | None = None
                   ) -> tuple[CompiledModel, ModelIR, dict[str, Any]]:
    """(model, IR, manifest) from a run directory, a checkpoint / ``weights.npz`` in one, or a native model file,
    on `device` (default: the IR's ``training.device``)."""
    check_device_option(device)
    target = Path(target)
    if target.is_dir():
        if not (target / IR_FILE).is_file():
            raise RunnerError(f"{target} is not a dnnc run directory (no {IR_FILE})")
        run_dir, weights_path = target, target / WEIGHTS
        if not weights_path.is_file():
            raise RunnerError(f"{target} has no {WEIGHTS}: the run did not finish")
    elif target.is_file():
        run_dir = _find_run_dir(target)
        weights_path = target if run_dir is not None and _holds_weights_of(target, run_dir) else None
        if weights_path is None:
            from ..plugins.manager import get_registry

            matches = [b for b in get_registry().backends.values()
                       if target.name.endswith(b.artifact_suffix) and (backend is None or b.name == backend)]
            if not matches:
                if _is_npz(target) and run_dir is None:
                    raise RunnerError(f"{target} holds arrays but no {IR_FILE} was found next to it (or in the directories above)")
                raise RunnerError(f"{target}: neither canonical weights of a run nor a model file of an installed backend")
            model = (matches[0] if device is None else place(matches[0], device)).load(target)
            if device is None and not device_aware(matches[0]):
                resolve_device(matches[0], requested_device(model.ir))  # a CPU backend refuses a GPU the IR asks for
            manifest = read_run(run_dir)[1] if run_dir is not None else {}
            check_finite_weights(model.get_weights(), target, manifest)
            return model, model.ir, manifest
    else:
        raise RunnerError(f"{target} not found")
    ir, manifest = read_run(run_dir)
    name = backend or manifest.get("backend", {}).get("name")
    if not name:
        raise RunnerError(f"{run_dir}/{MANIFEST} does not name the backend; pass backend=")
    weights = read_weights(weights_path, ir)
    check_finite_weights(weights, weights_path, manifest)
    model = get_backend(name, ir, device).build(ir, weights)
    return model, ir, manifest


def check_finite_weights(weights: Mapping[str, np.ndarray], source: Path, manifest: Mapping[str, Any]) -> None:
    """Refuse weights with NaN or infinite values: a diverged run has nothing to evaluate or predict with."""
    bad = {key: int(np.count_nonzero(~np.isfinite(w))) for key, w in weights.items() if w.dtype.kind == "f"}
    bad = {key: n for key, n in bad.items() if n}
    if not bad:
        return
    listing = ", ".join(f"{key}: {n:,} of {weights[key].size:,}" for key, n in list(bad.items())[:4])
    more = f" and {len(bad) - 4} more arrays" if len(bad) > 4 else ""
    status = manifest.get("status")
    where = f"; the run's status is {status!r}" + (f" (at {manifest['diverged_at']})" if manifest.get("diverged_at") else "")
    raise RunnerError(f"{source}: the weights are not finite ({listing}{more} values are NaN or infinite)"
                      f"{where if status else ''}: the training diverged, so there is nothing to evaluate or predict "
                      "with; retrain with a lower learning rate")


def evaluate_run(
    run_dir_or_model: str | Path,
    data_dir: str | Path | None = None,
    *,
    backend: str | None = None,
    split: str = "test",
    download: bool = True,
    device: str | None = None,
) -> dict[str, float]:
    """Losses and metrics of a trained model on its spec's test (or validation) rows: ``{"test_loss": …}``
    (on `device`, default: the IR's ``training.device``)."""
    model, ir, manifest = load_run_model(run_dir_or_model, backend, device)
    datasets = run_datasets(ir, manifest, data_dir, download=download)
    parts = {"test": (datasets.test, "test_"), "validation": (datasets.validation, "val_"), "train": (datasets.train, "")}
    if split not in parts:
        raise RunnerError(f"split must be one of {', '.join(parts)} (received {split!r})")
    rows, prefix = parts[split]
    if rows is None or rows.n == 0:
        raise RunnerError(f"the data of {ir.name!r} has no {split} rows")
    check_split(ir, rows, split)
    batch = ir.training.validation_batch_size if ir.training is not None else 256
    return evaluate_split(LocalExecutor(model), rows, MetricSet(ir), batch, prefix)


def run_datasets(ir: ModelIR, manifest: Mapping[str, Any], data_dir: str | Path | None = None, *,
                 download: bool = True) -> Datasets:
    """The data of a run, found where the training run found it: relative paths from the spec's folder
    (the manifest's ``spec_dir``), the manifest's ``data_dir`` unless `data_dir` is given."""
    base_dir = Path(manifest["spec_dir"]) if manifest.get("spec_dir") else None
    if data_dir is None and manifest.get("data_dir"):
        data_dir = manifest["data_dir"]  # where the training run found its data
    return load_datasets(ir, base_dir=base_dir, data_dir=data_dir, download=download)


def forward_in_batches(model: CompiledModel, ir: ModelIR, x: Mapping[str, np.ndarray], *, heads: bool = True,
                       batch_size: int = 1024) -> dict[str, np.ndarray]:
    """The model's float32 outputs for preprocessed inputs `x` in inference mode, `batch_size` rows at a time:
    the output heads applied (probabilities for softmax/sigmoid outputs), or the logits without `heads`."""
    n = next(iter(x.values())).shape[0]
    chunks: dict[str, list[np.ndarray]] = {o.name: [] for o in ir.outputs}
    for start in range(0, n, batch_size):
        out = model.forward({k: v[start : start + batch_size] for k, v in x.items()}, training=False)
        for o in ir.outputs:
            value = apply_head(o.head, out[o.name]) if heads else out[o.name]
            chunks[o.name].append(np.asarray(value, dtype=np.float32))
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


class Predictions(dict):
    """Output name → array (class probabilities for softmax/sigmoid heads, values otherwise); ``rows`` names each row."""

    rows: list[str]
    heads: dict[str, str]


def predict(run_dir_or_model: str | Path, input_path: str | Path, *, backend: str | None = None,
            batch_size: int = 1024, device: str | None = None) -> Predictions:
    """Predictions of a trained model for the inputs in ``input_path`` (see :mod:`dnnc.runner.inputs`), on
    `device` (default: the IR's ``training.device``)."""
    model, ir, manifest = load_run_model(run_dir_or_model, backend, device)
    raw, rows = read_raw_inputs(input_path, ir)
    standardize = (manifest.get("data") or {}).get("standardize")
    x = preprocess(raw, ir, ir.data, standardize)
    result = Predictions(forward_in_batches(model, ir, x, batch_size=batch_size))
    result.rows = rows
    result.heads = {o.name: o.head for o in ir.outputs}
    return result
