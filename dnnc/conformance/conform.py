"""`dnnc conform`: run the conformance levels of one spec over several backends.

The first backend listed is the training level's **reference**: every other
backend is compared with it.  The structure level compares every backend with
the IR itself, the numeric level with the float64 oracle.

* ``structure`` (:mod:`.structure`) — the same IR, the same weights back, the
  framework's own per-layer parameter counts equal to the IR's;
* ``numeric`` (:mod:`.numeric`, the criterion in :mod:`.measures`) — every
  backend against the float64 oracle (:mod:`dnnc.reference`), each element
  within its float32 error bound: from ``initial_weights(ir, seed)`` on real
  batches of the spec's data, outputs in both modes, moving statistics,
  losses, every gradient, and every step of a 24-step optimizer trajectory;
* ``training`` (:mod:`.training`) — the shared runner trains every backend seed
  after seed (:mod:`.sequential`) until the interval (paired by seed; Welch also
  reported) of the difference of mean test accuracy to the reference lies within
  ± tolerance percentage points (PASS), outside it (FAIL), or the seed cap is
  reached (INCONCLUSIVE); then the float32 drift of every seed's first epoch
  (:mod:`.drift`) must stay within a small factor of a 1-ulp control's.

``--strict`` (or ``training.strict_parity = true``) makes dnnc draw the dropout
masks and the frameworks use deterministic kernels, so the backends follow
one trajectory in training too.

Python API::

    from dnnc.compiler.compile import compile_spec
    from dnnc.conformance.conform import run_conform
    from dnnc.conformance.options import ConformOptions
    report = run_conform(compile_spec("examples/xor.toml"), ["keras", "torch"],
                         ConformOptions(levels=("structure", "numeric")), spec_path="examples/xor.toml")
    report.verdict                # "PASS" / "FAIL" / "NOT JUDGED" / "INCONCLUSIVE"
    report.exit_code              # 0 / 1 / 3
    report.to_dict()              # the JSON report
"""

from __future__ import annotations

import importlib.metadata as md
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..compiler.ir import ModelIR
from .numeric import numeric_batches, numeric_level
from ..backends.base import unsupported_ops
from .options import ConformOptions, ProgressSink, resolve_backends, with_strict_parity
from .results import LEVELS, ConformReport, LevelResult
from .structure import structure_level
from .training import TrainFn, training_level

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from ..runner.datasets.containers import Datasets


def environment() -> dict[str, Any]:
    """Versions of dnnc, Python, NumPy and the frameworks installed (read without importing them)."""
    from .._version import __version__

    env: dict[str, Any] = {"dnnc": __version__, "python": platform.python_version(),
                           "platform": platform.platform(), "numpy": np.__version__}
    for pkg in ("torch", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            env[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return env


def load_datasets(ir: ModelIR, *, spec_path: Path | None = None, data_dir: Path | None = None) -> "Datasets":
    """The spec's data, loaded and prepared by the runner (raises DataError / RunnerError)."""
    from ..runner.api import load_datasets as runner_load

    base_dir = None if spec_path is None else Path(spec_path).resolve().parent
    return runner_load(ir, base_dir=base_dir, data_dir=data_dir)


def run_conform(ir: ModelIR, backend_names: Sequence[str], options: ConformOptions = ConformOptions(), *,
                spec_path: Path | str | None = None, progress: ProgressSink | None = None,
                train: TrainFn | None = None, datasets: "Datasets | None" = None) -> ConformReport:
    """Run the requested levels; return the report.

    Raises BackendError for unknown or unavailable backends and ValueError for
    an unknown level.  A data problem makes the levels that need data FAIL
    with the data error (the report says which).  ``datasets`` replaces
    loading the spec's data; ``train`` replaces the training function.
    """
    progress = progress or ProgressSink()
    unknown = [lv for lv in options.levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f"unknown conformance level {unknown[0]!r} (allowed: {', '.join(LEVELS)}, all)")
    return conform_backends(ir, resolve_backends(backend_names, ir, options.device), options, spec_path=spec_path, progress=progress,
                            train=train, datasets=datasets)


def conform_backends(ir: ModelIR, backends: Sequence["Backend"], options: ConformOptions = ConformOptions(), *,
                     spec_path: Path | str | None = None, progress: ProgressSink | None = None,
                     train: TrainFn | None = None, datasets: "Datasets | None" = None) -> ConformReport:
    """:func:`run_conform` on Backend objects (the kit passes the one backend it checks; the structure and numeric
    levels judge each backend on its own, so one is enough for them)."""
    progress = progress or ProgressSink()
    if options.strict:
        ir = with_strict_parity(ir)
    seed = options.numeric_seed if options.numeric_seed is not None else (ir.training.seed if ir.training else 0)
    report = ConformReport(
        spec=str(spec_path) if spec_path is not None else ir.name, model=ir.name,
        backends=[b.name for b in backends],
        settings={"levels": [lv for lv in LEVELS if lv in options.levels],
                  "strict_parity": bool(ir.training and ir.training.strict_parity), "numeric_seed": seed,
                  "numeric_batches": options.numeric_batches, "trajectory_steps": options.trajectory_steps,
                  "numeric_factor": options.numeric_factor,
                  "data_dir": None if options.data_dir is None else str(options.data_dir)},
        environment=environment(),
    )
    for b in backends:
        report.backend_info[b.name] = {"framework": b.status()[1], "unsupported_ops": unsupported_ops(b, ir),
                                       **({"device": b.device} if getattr(b, "device", None) else {})}

    from ..compiler.initial_weights import initial_weights

    weights = initial_weights(ir, seed)
    data_error = None
    wants_data = ("numeric" in options.levels and ir.data is not None) or "training" in options.levels
    if datasets is None and wants_data:
        from ..runner.datasets import DataError
        from ..runner.errors import RunnerError

        try:
            datasets = load_datasets(ir, spec_path=Path(spec_path) if spec_path else None, data_dir=options.data_dir)
        except (DataError, RunnerError) as exc:
            data_error = f"the data could not be loaded: {exc}"

    if "structure" in options.levels:
        report.levels["structure"] = structure_level(ir, backends, weights, options, progress)
    if "numeric" in options.levels:
        if ir.data is not None and datasets is None:
            report.levels["numeric"] = LevelResult("numeric", error=data_error)
        else:
            batches, trajectory, note = numeric_batches(ir, None if datasets is None else datasets.train, options, seed)
            report.levels["numeric"] = numeric_level(ir, backends, weights, batches, trajectory, options, progress,
                                                     data_note=note)
    if "training" in options.levels:
        if datasets is None:
            report.levels["training"] = LevelResult("training", error=data_error or "no data to train on")
        else:
            result, info = training_level(ir, backends, datasets, options, progress, train)
            report.levels["training"] = result
            for name, data in info.items():
                report.backend_info.setdefault(name, {}).update(data)
    return report
