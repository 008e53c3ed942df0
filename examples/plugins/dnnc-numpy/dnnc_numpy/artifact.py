"""The ``.npz`` artifact: canonical weights plus the IR as JSON, readable with ``allow_pickle=False``.

Entries: ``__format__`` ("dnnc-numpy"), ``__format_version__`` (1), ``__ir__``
(the IR JSON, a NumPy unicode scalar) and one ``weights/<node>/<param>`` array
per canonical weight (float32, dnnc's canonical layout).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnnc.compiler.ir import ModelIR

FORMAT = "dnnc-numpy"
FORMAT_VERSION = 1
WEIGHT_PREFIX = "weights/"


def write_artifact(path: Path, ir: ModelIR, weights: dict[str, np.ndarray]) -> Path:
    """Write the artifact to exactly `path` (no suffix is added); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "__format__": np.array(FORMAT),
        "__format_version__": np.array(FORMAT_VERSION, dtype=np.int64),
        "__ir__": np.array(ir.to_json(indent=None)),
        **{WEIGHT_PREFIX + key: np.asarray(w, dtype=np.float32) for key, w in weights.items()},
    }
    with open(path, "wb") as f:  # a file object, so numpy does not append ".npz" to the name
        np.savez(f, **arrays)
    return path


def read_artifact(path: Path) -> tuple[ModelIR, dict[str, np.ndarray]]:
    """(IR, canonical weights) of an artifact written by :func:`write_artifact` (no unpickling)."""
    with np.load(Path(path), allow_pickle=False) as data:
        if "__format__" not in data.files or str(data["__format__"]) != FORMAT:
            raise ValueError(f"{path} is not a dnnc numpy artifact (no {FORMAT!r} marker)")
        version = int(data["__format_version__"])
        if version != FORMAT_VERSION:
            raise ValueError(f"{path} has artifact format version {version}; this plugin reads version {FORMAT_VERSION}")
        ir = ModelIR.from_json(str(data["__ir__"]))
        weights = {name[len(WEIGHT_PREFIX):]: data[name] for name in data.files if name.startswith(WEIGHT_PREFIX)}
    return ir, weights
