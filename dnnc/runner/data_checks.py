"""Checks and conversions between the prepared data and the model: shapes, labels, class weights."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..compiler.ir import ModelIR
from .datasets.containers import Split
from .errors import RunnerError, ShapeMismatch


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
