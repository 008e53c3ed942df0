"""Checks and conversions between the data and the model: values, shapes, labels, class weights.

:func:`check_raw` refuses, before any preprocessing, arrays with NaN or infinite values and sparse
labels that are not whole numbers, naming the file and the array or column, how many rows and the
first row; :func:`check_finite` refuses features that the preprocessing made non-finite (a tiny
``divide_by``); :func:`check_split` checks shapes and label ranges against the model.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from ..compiler.ir import ModelIR
from .datasets.containers import Datasets, RawData, Split
from .errors import RunnerError, ShapeMismatch


class BadValues(RunnerError):
    """The data holds values no model can learn from (NaN, infinities, fractional class labels)."""


def data_warnings(meta: Mapping[str, Any]) -> list[str]:
    """The warnings a data loader recorded (e.g. a built-in data set's file that is not the official one)."""
    warnings = meta.get("warnings") or []
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


def _arrays(split: Split) -> Iterator[tuple[str, str, np.ndarray]]:
    for name, a in split.inputs.items():
        yield "features", name, a
    for name, a in split.targets.items():
        yield "targets", name, a
    if split.sample_weight is not None:
        yield "sample_weight", "", split.sample_weight


def describe_source(meta: Mapping[str, Any], role: str, name: str, part: str) -> str:
    """Where an array came from: ``array 'y' of data.npz``, ``column(s) ['a', 'b'] of t.csv``, an IDX file."""
    files = meta.get("files") or []
    dataset = meta.get("dataset", "?")
    label = {"features": f"the features of input {name!r}", "targets": f"the targets of output {name!r}",
             "sample_weight": "the sample weights"}[role]
    if dataset == "npz" and files:
        arrays = meta.get("arrays", {})
        keys = arrays.get("test", {}) if part == "test" and arrays.get("test") else arrays
        key = keys.get(role) if role == "sample_weight" else keys.get(role, {}).get(name)
        return f"{files[0]['path']}: array {key!r} ({label})"
    if dataset == "csv" and files:
        columns = meta.get("columns", {}).get(role, {}).get(name)
        return f"{files[0]['path']}: column(s) {columns!r} ({label})"
    if dataset in ("mnist", "fashion_mnist") and files:
        kind = "images" if role == "features" else "labels"
        path = next((f["path"] for f in files if f.get("role") == f"{part}_{kind}"), None)
        if path:
            return f"{path} ({label})"
    return f"the {dataset} data set's {part} rows ({label})"


def _first_bad_rows(array: np.ndarray, bad_values: np.ndarray) -> tuple[int, int]:
    """(rows with at least one bad value, index of the first) for a per-element boolean mask."""
    rows = bad_values.reshape(bad_values.shape[0], -1).any(axis=1) if bad_values.ndim > 1 else bad_values
    hits = np.flatnonzero(rows)
    return int(hits.size), int(hits[0]) if hits.size else -1


def check_raw(ir: ModelIR, raw: RawData) -> None:
    """Refuse NaN or infinite values in any array, and sparse class labels that are not whole numbers."""
    sparse = {o.name for o in ir.outputs if o.target == "sparse"}
    for part, split in (("train", raw.train), ("test", raw.test)):
        if split is None:
            continue
        for role, name, array in _arrays(split):
            if array.dtype.kind not in "fc" or array.size == 0:
                continue
            count, first = _first_bad_rows(array, ~np.isfinite(array))
            if count:
                raise BadValues(f"{describe_source(raw.meta, role, name, part)}: {count} of {array.shape[0]} rows "
                                f"hold NaN or infinite values (the first is row {first}); fix or remove those rows")
            if role == "targets" and name in sparse:
                count, first = _first_bad_rows(array, array != np.round(array))
                if count:
                    value = np.ravel(array[first])[0]
                    raise BadValues(
                        f"{describe_source(raw.meta, role, name, part)}: sparse_categorical_crossentropy needs whole "
                        f"class labels 0, 1, 2…, but {count} of {array.shape[0]} rows are not whole numbers (the first "
                        f"is row {first}: {float(value):.8g}); for values to regress use a regression loss such as mse")


def check_finite(datasets: Datasets) -> None:
    """Refuse features that the preprocessing made NaN or infinite (the raw values were finite)."""
    for part, split in (("training", datasets.train), ("validation", datasets.validation), ("test", datasets.test)):
        if split is None:
            continue
        for name, array in split.inputs.items():
            count, first = _first_bad_rows(array, ~np.isfinite(array))
            if count:
                raise BadValues(f"input {name!r}: after the preprocessing (divide_by, standardize) {count} of "
                                f"{array.shape[0]} {part} rows hold NaN or infinite values (the first is {part} row "
                                f"{first}); the scale overflows float32: use a larger divide_by")


def _shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def check_split(ir: ModelIR, split: Split, part: str) -> None:
    """Raise :class:`ShapeMismatch` unless ``split`` fits the model's inputs and outputs."""
    for name in ir.inputs:
        if name not in split.inputs:
            raise ShapeMismatch(
                f"the {part} data has no features for model input {name!r} "
                f"(data inputs: {', '.join(split.inputs) or 'none'})"
            )
        model_shape = tuple(ir.node(name).shape)
        data_shape = tuple(split.inputs[name].shape[1:])
        if data_shape != model_shape:
            size_hint = ""
            if int(np.prod(data_shape)) == int(np.prod(model_shape)):
                size_hint = f"; the sizes agree, so set data.reshape = {list(model_shape)} or start the model with a flatten/reshape layer"
            raise ShapeMismatch(
                f"input {name!r}: the {part} data has per-sample shape {_shape(data_shape)}, "
                f"the model expects {_shape(model_shape)}{size_hint}"
            )
    for output in ir.outputs:
        if output.loss is None:
            continue
        if output.name not in split.targets:
            raise ShapeMismatch(
                f"the {part} data has no targets for model output {output.name!r} "
                f"(data targets: {', '.join(split.targets) or 'none'})"
            )
        y = split.targets[output.name]
        if output.target == "sparse":
            if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
                raise ShapeMismatch(
                    f"output {output.name!r}: sparse_categorical_crossentropy needs one integer label per sample, "
                    f"the {part} targets have per-sample shape {_shape(y.shape[1:])}"
                )
            if y.size:
                lo, hi = int(np.min(y)), int(np.max(y))
                classes = output.shape[-1]
                if lo < 0 or hi >= classes:
                    raise ShapeMismatch(
                        f"output {output.name!r} has {classes} units, but the {part} labels run from {lo} to {hi} "
                        f"(labels must be 0–{classes - 1})"
                    )
        elif tuple(y.shape[1:]) != tuple(output.shape):
            raise ShapeMismatch(
                f"output {output.name!r}: the {part} targets have per-sample shape {_shape(y.shape[1:])}, "
                f"the model output has {_shape(output.shape)}"
            )
    rows = {f"input {k}": v.shape[0] for k, v in split.inputs.items()}
    rows.update({f"target {k}": v.shape[0] for k, v in split.targets.items()})
    if split.sample_weight is not None:
        rows["sample_weight"] = split.sample_weight.shape[0]
    if len(set(rows.values())) > 1:
        raise ShapeMismatch(f"the {part} arrays have different numbers of rows: {rows}")


def class_index(ir: ModelIR, name: str, y: np.ndarray) -> np.ndarray:
    """The integer class of each row of output ``name``'s targets (labels, one-hot rows or 0/1 values)."""
    output = next(o for o in ir.outputs if o.name == name)
    if output.target == "sparse" or y.ndim == 1:
        return y.reshape(y.shape[0]).astype(np.int64)
    if y.shape[-1] == 1:
        return np.round(y.reshape(y.shape[0])).astype(np.int64)
    return np.argmax(y, axis=-1).astype(np.int64)


def class_sample_weights(ir: ModelIR, split: Split, class_weight: Mapping[str, float]) -> np.ndarray:
    """Per-sample weights from ``training.class_weight`` (classes not listed weigh 1.0), as Keras computes them."""
    outputs = [o for o in ir.outputs if o.loss is not None]
    if len(outputs) != 1:
        raise RunnerError(
            f"training.class_weight needs a model with one output; this model has {len(outputs)} "
            f"({', '.join(o.name for o in outputs)}): use per-row sample weights (data.sample_weight) instead"
        )
    output = outputs[0]
    if output.target not in ("sparse", "one_hot", "binary"):
        raise RunnerError(
            f"training.class_weight needs a classification loss; output {output.name!r} uses {output.loss['type']!r}"
        )
    y = split.targets[output.name]
    if output.target == "binary" and y.ndim == 2 and y.shape[1] > 1:
        raise RunnerError(
            f"training.class_weight needs one label per sample; output {output.name!r} has {y.shape[1]} binary targets"
        )
    table: dict[int, float] = {}
    for key, weight in class_weight.items():
        try:
            table[int(key)] = float(weight)
        except ValueError:
            raise RunnerError(f"training.class_weight keys must be class indices such as \"0\" (received {key!r})") from None
    classes = class_index(ir, output.name, y)
    weights = np.ones(classes.shape[0], dtype=np.float32)
    for c, w in table.items():
        weights[classes == c] = w
    return weights
