"""Exporting a compiled model to ONNX and checking the file: the steps of `dnnc export --format onnx`.

1. the backend's exporter writes a temporary file next to the target
   (``CompiledModel.export_onnx``);
2. :func:`~.onnx_model.finish_onnx_file` names the batch axis, orders the
   interface like the IR and records what the file holds in its metadata;
3. ONNX Runtime runs the file on the given rows, which must agree with the
   backend's own outputs (heads applied unless logits) within the tolerance;
4. only then is the file moved to the target path.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..backends.base import CompiledModel, require_method
from ..compiler.ir import ModelIR
from .errors import ExportError
from .onnx_model import finish_onnx_file, interface
from .verify import max_differences, onnxruntime_outputs

#: The opsets both exporters write (tf2onnx 1.17 goes up to 18, torch's TorchScript exporter to 20).
OPSETS = range(13, 19)
DEFAULT_OPSET = 18
#: Packages each backend's export needs besides onnx and onnxruntime.
BACKEND_PACKAGES = {"keras": ("tf2onnx",)}


def require_packages(backend: str) -> None:
    """ExportError naming what is missing when the packages the export needs are not installed."""
    needed = ("onnx", "onnxruntime", *BACKEND_PACKAGES.get(backend, ()))
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"exporting a {backend} model to ONNX needs {', '.join(needed)}; not installed: "
                          f"{', '.join(missing)} (pip install 'dnnc[onnx]')")


def random_rows_description(ir: ModelIR, n: int = 64) -> str:
    """What :func:`random_rows` gives, in words: ``64 random standard-normal rows`` or, with token inputs,
    ``64 random rows (standard-normal features, uniform token ids)``."""
    from ..compiler.embedding_ops import token_inputs

    tokens = token_inputs(ir)
    if not tokens:
        return f"{n} random standard-normal rows"
    if len(tokens) == len(ir.inputs):
        return f"{n} random rows of uniform token ids"
    return f"{n} random rows (standard-normal features, uniform token ids)"


def random_rows(ir: ModelIR, n: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows for each input when there are no data rows to check the file on: standard-normal float32 rows,
    and for a token (int64) input uniform int64 ids below the input_dim of the embeddings reading it."""
    from ..compiler.embedding_ops import token_inputs

    rng = np.random.default_rng(seed)
    tokens = token_inputs(ir)
    return {name: rng.integers(0, tokens[name], size=(n, *ir.node(name).shape), dtype=np.int64) if name in tokens
            else rng.standard_normal((n, *ir.node(name).shape)).astype(np.float32) for name in ir.inputs}


@dataclass
class ExportReport:
    path: Path
    exporter: str
    opset: int
    ir_version: int
    logits: bool
    interface: list[tuple[str, str, str, list[str]]]
    rows: int
    rows_kind: str
    differences: dict[str, float]
    tolerance: float
    onnxruntime: str

    @property
    def max_difference(self) -> float:
        return max(self.differences.values(), default=0.0)


def export_onnx(model: CompiledModel, ir: ModelIR, path: str | Path, *, rows: Mapping[str, np.ndarray],
                rows_kind: str, logits: bool = False, opset: int = DEFAULT_OPSET, tolerance: float = 1e-5,
                metadata: Mapping[str, str] | None = None) -> ExportReport:
    """Export `model` to the ONNX file `path` and check it on `rows` (preprocessed inputs, e.g. the test rows;
    `rows_kind` says what they are); ExportError, and no file written, when ONNX Runtime disagrees."""
    from .._version import __version__
    from ..runner.api import forward_in_batches

    backend = getattr(model, "backend_name", type(model).__name__)
    if opset not in OPSETS:
        raise ExportError(f"opset {opset} is not supported (allowed: {OPSETS.start}…{OPSETS.stop - 1})")
    require_packages(backend)
    method = require_method(model, "export_onnx")
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a directory; name the .onnx file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            exporter = method(temporary, logits=logits, opset=opset)
        except ExportError:
            raise
        except Exception as exc:  # the framework's exporter refused the graph: say so, with its reason
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ExportError(f"{path}: the {backend} backend's ONNX exporter failed ({type(exc).__name__}: "
                              f"{first})") from None
        info = {"producer": f"dnnc {__version__}", "model": ir.name, "backend": backend, "exporter": exporter,
                "outputs": "logits" if logits else "predictions (output heads applied)",
                "heads": ", ".join(f"{o.name}: {'linear' if logits else o.head}" for o in ir.outputs),
                **(metadata or {})}
        opset_written, ir_version = finish_onnx_file(temporary, ir, info)
        got = onnxruntime_outputs(temporary, rows)
        want = forward_in_batches(model, ir, rows, heads=not logits)
        differences = max_differences(got, want, path)
        worst = max(differences.values(), default=0.0)
        if not worst <= tolerance:
            raise ExportError(_disagreement(path, backend, rows_kind, differences, tolerance,
                                            forward_in_batches(model, ir, rows, heads=False)))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    import onnxruntime

    return ExportReport(path=path, exporter=exporter, opset=opset_written, ir_version=ir_version, logits=logits,
                        interface=interface(path), rows=next(iter(rows.values())).shape[0], rows_kind=rows_kind,
                        differences=differences, tolerance=tolerance, onnxruntime=onnxruntime.__version__)


def _disagreement(path: Path, backend: str, rows_kind: str, differences: Mapping[str, float], tolerance: float,
                  logits: Mapping[str, np.ndarray]) -> str:
    """The message of a failed check, with the size of the logits (float32 rounding grows with it)."""
    worst = max(differences.values(), default=0.0)
    scale = max((float(np.max(np.abs(z))) for z in logits.values() if z.size), default=0.0)
    hint = (f"; the logits reach {scale:.3g}, and float32 sums of values that large differ by more between "
            "two libraries: if that is all, pass a larger --tolerance" if scale > 10 else "")
    return (f"{path}: ONNX Runtime disagrees with the {backend} backend on the {rows_kind}: max |Δ| = {worst:.3g} > "
            f"tolerance {tolerance:g} (per output: " + ", ".join(f"{k} {v:.3g}" for k, v in differences.items())
            + f"){hint}; nothing written")
