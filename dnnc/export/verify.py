"""Running an exported ONNX file with ONNX Runtime and comparing it with the backend's own outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import ExportError


def onnxruntime_outputs(path: Path, rows: Mapping[str, np.ndarray], batch_size: int = 1024) -> dict[str, np.ndarray]:
    """The ONNX file's outputs for `rows` (input name → float32 array), `batch_size` rows at a time."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a file it cannot load
        raise ExportError(f"{path}: ONNX Runtime cannot load the exported file ({type(exc).__name__}: {exc})") from None
    names = [o.name for o in session.get_outputs()]
    n = next(iter(rows.values())).shape[0]
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, n, batch_size):
        feed = {k: np.ascontiguousarray(v[start : start + batch_size], dtype=np.float32) for k, v in rows.items()}
        for name, value in zip(names, session.run(names, feed)):
            chunks[name].append(value)
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def max_differences(got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], path: Path) -> dict[str, float]:
    """Output name → max |got − want| (float64); ExportError when a shape differs."""
    out = {}
    for name, expected in want.items():
        value = got[name]
        if value.shape != expected.shape:
            raise ExportError(f"{path}: ONNX Runtime gives output {name!r} the shape {value.shape}, the backend "
                              f"{expected.shape}")
        diff = np.abs(value.astype(np.float64) - expected.astype(np.float64))
        out[name] = float(np.max(diff)) if diff.size else 0.0
    return out
