"""Turn raw arrays into the final training, validation and test splits.

The steps, in order:

0. ``classes``: only the rows of the listed classes are kept, in every part,
   and their labels become the new ones (:func:`select_classes`);
1. ``test_split``: the last ``n − floor(n·(1 − s))`` rows become the test rows
   (user files without separate test arrays only);
2. validation rows, taken from the remaining training rows:
   ``validation_split`` = the last ``n − floor(n·(1 − s))`` rows (Keras's rule,
   before any shuffling); ``validation.first`` / ``validation.last`` = the first
   / last N rows; ``validation.random`` = ``n − floor(n·(1 − f))`` rows chosen
   with numpy ``Generator(Philox)`` keyed by the seed, both parts keeping
   their order; then ``train_rows`` keeps the first N training rows;
3. features to float32, divided by ``divide_by`` (token inputs: int64 ids in
   the embedding's range, :func:`to_token_ids`);
4. reshape to ``reshape`` (or to the model's input shape when only the
   layout differs); ``as_sequence``: images as (28 steps, 28 features);
5. ``standardize``: per-feature mean and standard deviation fitted on the
   training rows only (std 0 counts as 1), applied to every split;
6. targets: class labels int64 ``(n,)``, one-hot float32 ``(n, k)`` or, with
   ``labels = "binary"``, float32 0/1 ``(n, 1)``;
   binary (XOR) targets float32 ``(n, 1)`` or one-hot ``(n, 2)``; regression
   values float32 ``(n, k)``; sample weights float32 ``(n,)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...spec_schema.data import DataSpec, class_mapping
from .containers import Datasets, RawData, Split
from .errors import DataError
from .rng import STREAM_VALIDATION, data_generator


def prepare(
    raw: RawData,
    spec: DataSpec,
    *,
    seed: int = 0,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    token_limits: Mapping[str, int] | None = None,
) -> Datasets:
    """Apply the spec's preprocessing to ``raw`` and return the final splits.

    ``token_limits``: the model's token (int64) inputs and how many ids each may hold; their features stay
    integers (int64), must lie in that range and take no divide_by or standardize."""
    tokens = dict(token_limits or {})
    meta: dict[str, Any] = dict(raw.meta)
    if spec.classes is not None:
        raw, meta["classes"] = select_classes(raw, spec.classes)
    train, test, meta["test"] = split_test(raw.train, raw.test, spec.test_split, dataset=meta.get("dataset", "?"))
    train, validation, meta["validation"] = split_validation(train, spec, seed=seed)
    if spec.train_rows is not None:
        if spec.train_rows > train.n:
            raise DataError(f"train_rows = {spec.train_rows}, but there are only {train.n} training rows "
                            "(after classes and the validation rows)")
        train = train.take(slice(0, spec.train_rows))

    splits = {"train": train, "validation": validation, "test": test}
    present = {k: s for k, s in splits.items() if s is not None}

    _check_reshape(spec, list(train.inputs))
    inputs = {k: dict(s.inputs) for k, s in present.items()}
    for name in train.inputs:
        for part in inputs:
            inputs[part][name] = (to_token_ids(inputs[part][name], name, tokens[name], spec) if name in tokens
                                  else to_float32(inputs[part][name], spec.divide_by))
        target_shape = _target_shape(name, spec, input_shapes)
        if target_shape is not None:
            for part in inputs:
                inputs[part][name] = reshape_features(inputs[part][name], target_shape, name)
    if spec.standardize:
        meta["standardize"] = {}
        for name in [n for n in train.inputs if n not in tokens]:
            mean, std = fit_standardizer(inputs["train"][name])
            for part in inputs:  # in place: to_float32 made these arrays ours
                inputs[part][name] -= mean
                inputs[part][name] /= std
            meta["standardize"][name] = {"mean": mean.tolist(), "std": std.tolist()}

    targets, num_classes = prepare_targets(raw, spec, {k: s.targets for k, s in present.items()})
    weights = {k: _sample_weight(s.sample_weight) for k, s in present.items()}

    final = {k: Split(inputs=inputs[k], targets=targets[k], sample_weight=weights[k]) for k in present}
    meta["num_classes"] = num_classes
    meta["feature_shapes"] = {n: list(a.shape[1:]) for n, a in final["train"].inputs.items()}
    meta["target_shapes"] = {n: list(a.shape[1:]) for n, a in final["train"].targets.items()}
    meta["rows"] = {k: (final[k].n if k in final else 0) for k in splits}
    return Datasets(train=final["train"], validation=final.get("validation"), test=final.get("test"), meta=meta)


# --------------------------------------------------------------------------
# Class selection
# --------------------------------------------------------------------------


def select_classes(raw: RawData, classes: list[int] | dict[str, int]) -> tuple[RawData, str]:
    """The rows of the selected classes, relabelled (``data.classes``), and a description for the metadata."""
    mapping = class_mapping(classes)
    targets = [name for name, kind in raw.target_kinds.items() if kind in ("class", "binary")]
    if len(targets) != 1:
        raise DataError(f"classes needs exactly one class target, the data has {len(targets)} "
                        f"({', '.join(targets) or 'none'})")
    name = targets[0]
    old = np.array(sorted(mapping), dtype=np.int64)
    new = np.array([mapping[c] for c in old], dtype=np.int64)

    def select(split: Split | None) -> Split | None:
        if split is None:
            return None
        y = _as_labels(split.targets[name], name)
        keep = np.flatnonzero(np.isin(y, old))
        part = split.take(keep)
        labels = new[np.searchsorted(old, y[keep])]
        original = np.asarray(split.targets[name])
        return Split(inputs=part.inputs, targets={**part.targets, name: labels.astype(original.dtype, copy=False)},
                     sample_weight=part.sample_weight)

    train = select(raw.train)
    if train.n == 0:
        raise DataError(f"classes {classes}: no training row has one of these labels")
    k = int(new.max()) + 1
    out = RawData(train=train, test=select(raw.test), target_kinds=dict(raw.target_kinds),
                  num_classes={**raw.num_classes, name: k}, meta=raw.meta)
    how = ", ".join(f"{c} → {mapping[c]}" for c in sorted(mapping))
    return out, f"classes {how} (rows of other classes dropped)"


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------


def keras_split_index(n: int, fraction: float) -> int:
    """The first held-out row when the last ``fraction`` of ``n`` rows is held out: floor(n·(1 − fraction))."""
    return int(math.floor(n * (1.0 - fraction)))


def split_test(
    train: Split, test: Split | None, test_split: float | None, *, dataset: str
) -> tuple[Split, Split | None, str]:
    """Hold out the last rows as test rows when ``test_split`` asks for it."""
    if not test_split:
        if test is not None:
            return train, test, ("the file's separate test arrays" if dataset == "npz" else "the data set's own test rows")
        return train, None, "none"
    if test is not None:
        raise DataError(
            f"test_split = {test_split}: the file already has separate test arrays (…_test); remove test_split"
        )
    n = train.n
    cut = keras_split_index(n, test_split)
    if cut < 1:
        raise DataError(f"test_split = {test_split} of {n} rows leaves no rows for training")
    return train.take(slice(0, cut)), train.take(slice(cut, n)), f"last {n - cut} of {n} rows (test_split = {test_split})"


def split_validation(train: Split, spec: DataSpec, *, seed: int = 0) -> tuple[Split, Split | None, str]:
    """Hold out validation rows as ``validation_split`` or ``validation`` says."""
    n = train.n
    if spec.validation_split:
        cut = keras_split_index(n, spec.validation_split)
        _check_left(cut, n, f"validation_split = {spec.validation_split}")
        how = f"last {n - cut} of {n} training rows (validation_split = {spec.validation_split})"
        return train.take(slice(0, cut)), train.take(slice(cut, n)), how
    v = spec.validation
    if v is None:
        return train, None, "none"
    if v.first is not None:
        _check_count(v.first, n, "validation.first")
        return train.take(slice(v.first, n)), train.take(slice(0, v.first)), f"first {v.first} of {n} training rows"
    if v.last is not None:
        _check_count(v.last, n, "validation.last")
        cut = n - v.last
        return train.take(slice(0, cut)), train.take(slice(cut, n)), f"last {v.last} of {n} training rows"
    count = n - keras_split_index(n, v.random)
    _check_left(n - count, n, f"validation.random = {v.random}")
    key = seed if v.seed is None else v.seed
    chosen = np.sort(data_generator(key, STREAM_VALIDATION).permutation(n)[:count])
    held = np.zeros(n, dtype=bool)
    held[chosen] = True
    how = f"{count} of {n} training rows chosen at random (validation.random = {v.random}, seed {key})"
    return train.take(np.flatnonzero(~held)), train.take(chosen), how


def _check_count(count: int, n: int, what: str) -> None:
    if count >= n:
        raise DataError(f"{what} = {count}, but there are only {n} training rows; at least one must stay for training")


def _check_left(left: int, n: int, what: str) -> None:
    if left < 1:
        raise DataError(f"{what} of {n} rows leaves no rows for training")


# --------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------


def to_float32(x: np.ndarray, divide_by: float | None) -> np.ndarray:
    """``x`` as float32, divided by ``divide_by`` (computed in float32) when given."""
    out = x.astype(np.float32)  # always a copy: the result is ours to modify
    if divide_by is not None:
        with np.errstate(over="ignore"):  # an overflow is refused by dnnc.runner.data_checks.check_finite
            out /= np.float32(divide_by)
    return out


def to_token_ids(x: np.ndarray, name: str, limit: int, spec: DataSpec) -> np.ndarray:
    """Token ids of a model input declared ``dtype = "int64"``: integers in [0, limit), as int64."""
    if not np.issubdtype(x.dtype, np.integer):
        raise DataError(f"input {name!r} is declared dtype = \"int64\" (token ids), but the data holds {x.dtype} "
                        "values; token ids are integers")
    for key in ("divide_by", "standardize"):
        if getattr(spec, key):
            raise DataError(f"{key} does not apply to input {name!r}, which holds token ids (dtype = \"int64\")")
    if x.size and (int(x.min()) < 0 or int(x.max()) >= limit):
        raise DataError(f"input {name!r}: token ids must lie in 0 … {limit - 1} (the embedding's input_dim is {limit}; "
                        f"the data holds {int(x.min())} … {int(x.max())})")
    return x.astype(np.int64)


def _check_reshape(spec: DataSpec, names: list[str]) -> None:
    if isinstance(spec.reshape, dict):
        unknown = [k for k in spec.reshape if k not in names]
        if unknown:
            raise DataError(f"reshape names {', '.join(map(repr, unknown))}, which are not inputs (inputs: {', '.join(names)})")
    elif spec.reshape is not None and len(names) > 1:
        raise DataError(
            f"reshape = {spec.reshape} is ambiguous with {len(names)} inputs ({', '.join(names)}): "
            "give a table input name → shape"
        )


#: ``data.as_sequence``: an image as 28 steps (rows) of 28 features (the row's pixels), row-major as stored.
SEQUENCE_SHAPE = (28, 28)


def _target_shape(name: str, spec: DataSpec, input_shapes: Mapping[str, Sequence[int]] | None) -> tuple[int, ...] | None:
    if spec.as_sequence:
        return SEQUENCE_SHAPE
    if isinstance(spec.reshape, dict):
        if name in spec.reshape:
            return tuple(spec.reshape[name])
    elif spec.reshape is not None:
        return tuple(spec.reshape)
    if input_shapes is not None and name in input_shapes:
        return tuple(int(d) for d in input_shapes[name])
    return None


def reshape_features(x: np.ndarray, shape: Sequence[int], name: str) -> np.ndarray:
    """Reshape each sample of ``x`` to ``shape``; the number of values per sample must match."""
    shape = tuple(int(d) for d in shape)
    if x.shape[1:] == shape:
        return x
    have, want = int(np.prod(x.shape[1:], dtype=np.int64)), int(np.prod(shape, dtype=np.int64))
    if have != want:
        raise DataError(
            f"input {name!r}: samples of shape {tuple(x.shape[1:])} ({have} values) cannot be reshaped to "
            f"{shape} ({want} values); check the model's input shape or the data's `reshape`"
        )
    return x.reshape((x.shape[0],) + shape)


def fit_standardizer(x: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (population, ddof = 0) of ``x``; std 0 → 1. Both float32."""
    if x.shape[0] == 0:
        raise DataError("standardize: no training rows to fit the mean and standard deviation on")
    mean = x.mean(axis=0, dtype=np.float64)
    sq = np.zeros(x.shape[1:], dtype=np.float64)
    for start in range(0, x.shape[0], chunk):
        d = x[start : start + chunk].astype(np.float64) - mean
        sq += np.einsum("i...,i...->...", d, d)
    std = np.sqrt(sq / x.shape[0])
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------


def prepare_targets(
    raw: RawData, spec: DataSpec, parts: Mapping[str, Mapping[str, np.ndarray]]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, int]]:
    """Convert every split's targets; returns them and the class count of each class target."""
    out: dict[str, dict[str, np.ndarray]] = {p: {} for p in parts}
    num_classes: dict[str, int] = {}
    kinds = raw.target_kinds
    if spec.labels == "one_hot" and not any(k in ("class", "binary") for k in kinds.values()):
        listing = ", ".join(f"{n}: {parts['train'][n].dtype}" for n in kinds)
        raise DataError(
            f'labels = "one_hot" applies to integer class labels, but the targets are regression values '
            f'({listing}); store the labels as integers or set task = "classification"'
        )
    for name, kind in kinds.items():
        if kind not in ("class", "binary", "value"):
            raise DataError(f"target {name!r}: unknown target kind {kind!r} from the data loader "
                            "(allowed 'class', 'binary', 'value')")
        if kind == "value":
            for p in parts:
                y = np.asarray(parts[p][name], dtype=np.float32)
                out[p][name] = y.reshape(-1, 1) if y.ndim == 1 else y
            continue
        labels = {p: _as_labels(parts[p][name], name) for p in parts}
        k = spec.num_classes or raw.num_classes.get(name) or int(max(int(v.max(initial=0)) for v in labels.values())) + 1
        k = max(k, 2)
        top = max(int(v.max(initial=0)) for v in labels.values())
        if top >= k:
            raise DataError(f"target {name!r}: label {top} is out of range for num_classes = {k} (labels must be 0…{k - 1})")
        if spec.labels == "binary" and top > 1:
            raise DataError(f'target {name!r}: labels = "binary" (one sigmoid unit) needs labels 0 and 1, found labels '
                            f"up to {top}; select two classes with data.classes, e.g. classes = [5, 6]")
        num_classes[name] = k
        for p, y in labels.items():
            if spec.labels == "one_hot":
                out[p][name] = np.eye(k, dtype=np.float32)[y]
            elif kind == "binary" or spec.labels == "binary":
                out[p][name] = y.astype(np.float32).reshape(-1, 1)
            else:
                out[p][name] = y
    return out, num_classes


def _as_labels(y: np.ndarray, name: str) -> np.ndarray:
    """Integer class labels as int64 of shape (n,)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"target {name!r}: class labels need one value per row, found shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"target {name!r}: class labels must be whole numbers, found fractional values")
    labels = y.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise DataError(f"target {name!r}: class labels must be ≥ 0, found {labels.min()}")
    return labels


def _sample_weight(w: np.ndarray | None) -> np.ndarray | None:
    if w is None:
        return None
    w = np.asarray(w, dtype=np.float32)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim != 1:
        raise DataError(f"sample_weight needs one value per row, found shape {w.shape}")
    return w
