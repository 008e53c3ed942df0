"""`dnnc inspect`: a spec or a run directory in; statistics, histogram grids and the agreement out.

The model's weights are the spec's initial weights (dnnc's own draw, the same
in every backend), a run directory's final weights (``weights.npz``), or a
canonical weights ``.npz``.  The rows are the first ``rows`` rows of the
``split``, in order, as the spec's data table prepares them.  Every backend
builds the model from those same weights and measures those same rows in one
probe (inference mode: batch norm uses its moving statistics, dropout is the
identity; the loss is the one ``evaluate_step`` reports, its gradients those
``loss_and_gradients(training=False)`` gives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..backends.base import check_weights
from ..compiler.initial_weights import initial_weights
from ..compiler.ir import ModelIR
from ..conformance.results import FAIL, PASS, Check
from ..runner.api import compile_with_overrides, get_backend, load_datasets
from ..runner.data_checks import check_split
from ..runner.errors import RunnerError
from ..runner.records import IR_FILE, WEIGHTS, read_run
from .agreement import agreement
from .collect import Inspection, inspect_model
from .layers import inspected_layers
from .plots import QUANTITIES, histogram_grid
from .report import write_stats
from .stats import inspection_stats

SPLITS = ("train", "validation", "test")
GRID_FILES = {"activations": "activations.png", "output_gradient": "gradients.png",
              "weight_gradients": "weight_gradients.png", "pre_activations": "pre_activations.png"}


@dataclass
class InspectResult:
    model: str
    source: str
    weights: str
    split: str
    rows: int
    inspections: list[Inspection]
    stats: dict[str, list[dict[str, Any]]]
    checks: list[Check]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def verdict(self) -> str | None:
        """PASS / FAIL of the agreement between backends; None with a single backend."""
        if len(self.inspections) < 2:
            return None
        return FAIL if any(c.status == FAIL for c in self.checks) else PASS


@dataclass(frozen=True)
class Subject:
    """What is inspected: the IR, its weights, where its data lives."""

    ir: ModelIR
    weights: dict[str, np.ndarray]
    weights_text: str
    source: str
    base_dir: Path | None
    data_dir: Path | None
    backend: str | None
    """The run's backend (a run directory), else None."""
    default_out: Path


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / IR_FILE).is_file()


def _read_weights(path: Path, ir: ModelIR) -> dict[str, np.ndarray]:
    """Canonical weights from a run directory's weights.npz or an .npz file, checked against the IR."""
    file = path / WEIGHTS if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise RunnerError(f"{path} has no {WEIGHTS}: the run did not finish")
    if not file.is_file():
        raise RunnerError(f"{file}: no such weights file (give a run directory or a canonical weights .npz)")
    try:
        with np.load(file, allow_pickle=False) as data:
            weights = {k: data[k] for k in data.files}
        check_weights(ir, weights)
    except (OSError, ValueError) as exc:
        raise RunnerError(f"{file}: cannot use these weights for model {ir.name!r}: {exc}") from None
    return weights


def _initial(ir: ModelIR) -> tuple[dict[str, np.ndarray], str]:
    seed = ir.training.seed if ir.training is not None else 0
    return initial_weights(ir, seed), f"initial (seed {seed})"


def subject_of(target: Path, *, weights: str | None, overrides: Sequence[str], data_dir: Path | None) -> Subject:
    """Read a spec or a run directory; `weights` is None (the target's own), "initial" or a path."""
    target = Path(target)
    if is_run_dir(target):
        if overrides:
            raise RunnerError("--set changes a spec; a run directory is inspected as it was trained")
        ir, manifest = read_run(target)
        if weights == "initial":
            values, text = _initial(ir)
        else:
            source = target if weights is None else Path(weights)
            values, text = _read_weights(source, ir), f"{source} (trained)"
        base = Path(manifest["spec_dir"]) if manifest.get("spec_dir") else None
        data = data_dir or (Path(manifest["data_dir"]) if manifest.get("data_dir") else None)
        backend = (manifest.get("backend") or {}).get("name")
        return Subject(ir, values, text, str(target), base, data, backend, target / "inspect")
    if target.is_dir():
        raise RunnerError(f"{target} is a directory but not a dnnc run directory (no {IR_FILE})")
    _, ir = compile_with_overrides(target, overrides)
    if weights is None or weights == "initial":
        values, text = _initial(ir)
    else:
        values, text = _read_weights(Path(weights), ir), f"{weights} (trained)"
    return Subject(ir, values, text, str(target), target.resolve().parent, data_dir, None, Path("inspect") / ir.name)


def inspect_target(target: Path, *, backends: Sequence[str] | None = None, weights: str | None = None,
                   split: str = "train", rows: int = 1000, out: Path | None = None, pre_activations: bool = False,
                   data_dir: Path | None = None, download: bool = True, overrides: Sequence[str] = (),
                   plots: bool = True) -> InspectResult:
    """Measure, compare, write ``stats.json`` and the grids; see the module docstring."""
    if split not in SPLITS:
        raise RunnerError(f"split must be one of {', '.join(SPLITS)} (received {split!r})")
    if rows < 1:
        raise RunnerError(f"rows must be at least 1 (received {rows})")
    subject = subject_of(Path(target), weights=weights, overrides=overrides, data_dir=data_dir)
    ir = subject.ir
    names = list(backends or ([subject.backend] if subject.backend else []))
    if not names:
        raise RunnerError("name a backend: --backend B, or --backends A,B to compare several")
    if len(set(names)) != len(names):
        raise RunnerError(f"each backend once, please (received {', '.join(names)})")
    if not inspected_layers(ir):
        raise RunnerError(f"model {ir.name!r} has no layer to inspect (only inputs, flatten, reshape, concatenate "
                          "or dropout)")
    if not any(o.loss is not None for o in ir.outputs):
        raise RunnerError(f"model {ir.name!r} has no loss, and the gradients are of the loss: set training.loss")
    datasets = load_datasets(ir, base_dir=subject.base_dir, data_dir=subject.data_dir, download=download)
    part = getattr(datasets, split)
    if part is None or part.n == 0:
        raise RunnerError(f"the data of {ir.name!r} has no {split} rows")
    part = part.take(slice(0, min(rows, part.n)))
    check_split(ir, part, split)
    inspections = []
    for name in names:
        model = get_backend(name, ir).build(ir, subject.weights)
        inspections.append(inspect_model(model, ir, part.inputs, part.targets, pre_activations=pre_activations))
    checks = [c for other in inspections[1:] for c in agreement(inspections[0], other)]
    out_dir = Path(out) if out is not None else subject.default_out
    result = InspectResult(model=ir.name, source=subject.source, weights=subject.weights_text, split=split,
                           rows=part.n, inspections=inspections,
                           stats={i.backend: inspection_stats(i) for i in inspections}, checks=checks, out_dir=out_dir)
    if plots:
        for quantity, filename in GRID_FILES.items():
            if quantity == "pre_activations" and not pre_activations:
                continue
            title = (f"{ir.name}: {QUANTITIES[quantity]} ({part.n} {split} rows, {subject.weights_text} weights, "
                     f"{' | '.join(names)})")
            result.files[quantity] = histogram_grid(inspections, quantity, out_dir / filename, title=title)
    result.files["stats"] = out_dir / "stats.json"
    write_stats(result, result.files["stats"])
    return result
