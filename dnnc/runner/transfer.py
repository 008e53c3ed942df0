"""Transfer: initial weights copied from another trained network (``[model.init_from]``).

The source (``init_from.run``, relative to the spec file) is read as canonical
weights ``"<layer>/<param>"``:

* a run directory: its ``weights.npz`` (the final weights), else the weights of
  its ``checkpoint.npz`` (an unfinished run);
* an ``.npz`` file: a resumable checkpoint (its weights), an archive of
  canonical weights (``weights.npz``, a model_checkpoint file), or a saved model
  of a backend whose artifact suffix is ``.npz``;
* a saved model of an installed backend (``.keras``, ``.pt``…), loaded by that
  backend.

A layer is copied when the source has a layer with exactly its parameters
(names and shapes): all of them, batch-norm moving statistics included.
Without ``init_from.layers`` every layer whose name and parameter shapes match
is copied and every other one keeps the weights drawn from the seed ("fresh");
with it exactly the listed layers are copied, and a listed layer the source
lacks, or whose parameters differ, is a spec error at that entry naming both
shapes (exit 2).  A source that cannot be read, or from which nothing can be
copied, is an error naming the file (exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..compiler.errors import SpecError, SpecIssue
from ..compiler.ir import ModelIR
from .checksums import sha256_file
from .errors import RunnerError

Shapes = dict[str, tuple[int, ...]]


@dataclass
class TransferReport:
    """What was copied from where."""

    source: Path
    sha256: str | None
    copied: list[tuple[str, str]] = field(default_factory=list)
    """(this model's layer, the source's layer), in graph order."""
    fresh: list[tuple[str, str]] = field(default_factory=list)
    """(layer, why it was not copied), in graph order."""

    def lines(self) -> list[str]:
        out = [f"initial weights from {self.source}:"]
        for target, src in self.copied:
            out.append(f"  copied {target}" + (f" ← {src}" if src != target else ""))
        for target, why in self.fresh:
            out.append(f"  fresh  {target} ({why})")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "sha256": self.sha256, "copied": {t: s for t, s in self.copied},
                "fresh": {t: why for t, why in self.fresh}}


def _shape_text(shapes: Shapes) -> str:
    return ", ".join(f"{p} {tuple(s)}" for p, s in shapes.items()) or "no parameters"


def group_by_layer(weights: Mapping[str, np.ndarray]) -> dict[str, Shapes]:
    """Canonical weights as layer → parameter → shape."""
    out: dict[str, Shapes] = {}
    for key, value in weights.items():
        layer, _, param = key.rpartition("/")
        out.setdefault(layer, {})[param] = tuple(np.shape(value))
    return out


def read_source(path: Path) -> dict[str, np.ndarray]:
    """The canonical weights held by `path` (see the module docstring); RunnerError naming it otherwise."""
    if path.is_dir():
        for name in ("weights.npz", "checkpoint.npz"):
            if (path / name).is_file():
                return read_source(path / name)
        raise RunnerError(f"{path}: a directory without weights.npz or checkpoint.npz, so nothing to copy from "
                          "(model.init_from.run names a run directory, a weights file or a saved model)")
    if not path.is_file():
        raise RunnerError(f"{path}: no such file or directory (model.init_from.run)")
    if path.suffix == ".npz":
        weights = _read_npz(path)
        if weights is not None:
            return weights
    return _read_artifact(path)


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """Checkpoint or canonical weights; None for another kind of archive (a backend's artifact)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            if "meta.json" in files:  # a resumable checkpoint
                from .checkpoint import read_checkpoint

                return read_checkpoint(path).weights
            if files and all("/" in k and not k.startswith("__") for k in files):
                return {k: data[k] for k in files}
    except (OSError, ValueError) as exc:
        raise RunnerError(f"{path}: not a readable .npz archive ({exc})") from None
    return None


def _read_artifact(path: Path) -> dict[str, np.ndarray]:
    from ..plugins.manager import get_registry

    registry = get_registry()
    matches = [b for b in registry.backends.values() if path.name.endswith(b.artifact_suffix)]
    if not matches:
        known = ", ".join(sorted(b.artifact_suffix for b in registry.backends.values()))
        raise RunnerError(f"{path}: neither canonical weights (.npz) nor a saved model of an installed backend "
                          f"({known})")
    backend = registry.available_backend(matches[0].name)
    try:
        return backend.load(path).get_weights()
    except Exception as exc:
        raise RunnerError(f"{path}: cannot be loaded by the {backend.name} backend ({exc})") from None


def transfer_weights(ir: ModelIR, weights: Mapping[str, np.ndarray], base_dir: Path | None
                     ) -> tuple[dict[str, np.ndarray], TransferReport | None]:
    """`weights` with the layers of ``ir.init_from`` copied in, and the report (None without init_from).

    Raises SpecError (unlocated: paths ``model.init_from.layers.<layer>``) for a listed layer that cannot
    be copied, RunnerError naming the file when the source cannot be read or nothing matches.
    """
    init = ir.init_from
    if init is None:
        return dict(weights), None
    path = Path(init.source)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    source = read_source(path)
    available = group_by_layer(source)
    out = dict(weights)
    report = TransferReport(source=path, sha256=sha256_file(path) if path.is_file() else None)
    issues: list[SpecIssue] = []
    for node in ir.nodes:
        if not node.params:
            continue
        here: Shapes = {p.name: tuple(p.shape) for p in node.params}
        if init.layers is not None and node.name not in init.layers:
            report.fresh.append((node.name, "not listed in model.init_from.layers"))
            continue
        src = node.name if init.layers is None else init.layers[node.name]
        there = available.get(src)
        if there == here:
            for param in here:
                out[f"{node.name}/{param}"] = np.array(source[f"{src}/{param}"], dtype=np.float32, copy=True)
            report.copied.append((node.name, src))
            continue
        if there is None:
            why = f"{path.name} has no layer {src!r}"
        else:
            why = f"its parameters are {_shape_text(here)} here but {_shape_text(there)} in {src!r} of {path.name}"
        if init.layers is None:
            report.fresh.append((node.name, why))
        else:
            layers = sorted(available)
            issues.append(SpecIssue(("model", "init_from", "layers", node.name),
                                    f"cannot copy {src!r} into layer {node.name!r}: {why} ({path})", received=src,
                                    allowed=None if there is not None else ", ".join(layers[:12]) or "none"))
    if issues:
        raise SpecError(issues)
    if not report.copied:
        raise RunnerError(f"{path}: no layer to copy — none has this model's layer names and parameter shapes "
                          f"(source layers: {', '.join(sorted(available)) or 'none'}); "
                          "name the layers to copy in model.init_from.layers")
    return out, report


__all__ = ["TransferReport", "read_source", "transfer_weights"]
