"""The public entry point: a `[data]` table in, numpy arrays out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ...spec_schema.data import DataSpec
from .builtin import load_standard, load_xor
from .containers import Datasets, RawData
from .errors import DataError
from .prepare import prepare
from .user_files import load_csv, load_npz


def load_data(
    spec: DataSpec,
    *,
    base_dir: Path | None = None,
    data_dir: Path | None = None,
    seed: int = 0,
    input_names: Sequence[str] = ("input",),
    output_names: Sequence[str] = ("output",),
    download: bool = True,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> Datasets:
    """Load and prepare the data a `[data]` table describes.

    ``base_dir``: the spec file's directory (relative paths start there).
    ``data_dir``: the ``--data-dir`` option, searched first for standard data
    sets.  ``seed``: keys the random validation split and XOR noise.
    ``input_names`` / ``output_names``: the model's inputs and outputs, in
    order; built-in data sets have one of each, keyed by the first name.
    ``download``: allow downloading standard data sets (``$DNNC_OFFLINE=1``
    forbids it too).  ``input_shapes``: the model's per-sample input shapes;
    when ``reshape`` is not set, features whose size matches are reshaped to
    them (e.g. MNIST's (28, 28) to (784,)).

    Raises :class:`DataError` (or its subclass :class:`DatasetNotFound`).
    """
    raw = load_raw(
        spec,
        base_dir=base_dir,
        data_dir=data_dir,
        seed=seed,
        input_names=input_names,
        output_names=output_names,
        download=download,
    )
    return prepare(raw, spec, seed=seed, input_shapes=input_shapes)


def load_raw(
    spec: DataSpec,
    *,
    base_dir: Path | None = None,
    data_dir: Path | None = None,
    seed: int = 0,
    input_names: Sequence[str] = ("input",),
    output_names: Sequence[str] = ("output",),
    download: bool = True,
) -> RawData:
    """The arrays as read from the data set, before any preprocessing."""
    ds = spec.dataset
    input_names, output_names = list(input_names), list(output_names)
    if not input_names or not output_names:
        raise DataError("load_data needs at least one input name and one output name")
    if ds.type in ("mnist", "fashion_mnist", "xor"):
        for kind, names in (("inputs", input_names), ("outputs", output_names)):
            if len(names) != 1:
                raise DataError(
                    f"the {ds.type} data set has one input and one output, but the model has {len(names)} "
                    f"{kind} ({', '.join(names)})"
                )
    if ds.type in ("mnist", "fashion_mnist"):
        return load_standard(
            ds.type,
            path=ds.path,
            base_dir=base_dir,
            data_dir=data_dir,
            download=download,
            input_name=input_names[0],
            output_name=output_names[0],
        )
    if ds.type == "xor":
        return load_xor(repeat=ds.repeat, noise=ds.noise, seed=seed, input_name=input_names[0], output_name=output_names[0])
    common = dict(
        base_dir=base_dir,
        features=spec.features,
        targets=spec.targets,
        sample_weight=spec.sample_weight,
        input_names=input_names,
        output_names=output_names,
        task=spec.task,
    )
    if ds.type == "npz":
        return load_npz(ds.path, **common)
    if ds.type == "csv":
        return load_csv(ds.path, delimiter=ds.delimiter, header=ds.header, **common)
    raise DataError(f"no loader for data set type {ds.type!r}")  # pragma: no cover - the schema forbids it
