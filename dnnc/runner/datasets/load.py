"""The public entry point: a `[data]` table in, numpy arrays out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ...spec_schema.data import DataSpec
from .builtin import load_gaussian, load_standard, load_xor
from .containers import Datasets, RawData, Split
from .housing import load_california_housing
from .imdb import load_imdb
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
    loaders: Mapping[str, Callable[..., RawData]] | None = None,
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
    them (e.g. MNIST's (28, 28) to (784,)).  ``loaders``: data-set type →
    loader for types contributed by plugins, called as
    ``load(dataset, base_dir=, data_dir=, download=)`` and returning
    :class:`RawData` (a single input/output is renamed to the model's).

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
        loaders=loaders,
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
    loaders: Mapping[str, Callable[..., RawData]] | None = None,
) -> RawData:
    """The arrays as read from the data set, before any preprocessing."""
    ds = spec.dataset
    input_names, output_names = list(input_names), list(output_names)
    if not input_names or not output_names:
        raise DataError("load_data needs at least one input name and one output name")
    if ds.type in ("mnist", "fashion_mnist", "xor", "gaussian", "california_housing", "imdb"):
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
    if ds.type == "california_housing":
        return load_california_housing(path=ds.path, base_dir=base_dir, data_dir=data_dir, download=download,
                                       input_name=input_names[0], output_name=output_names[0])
    if ds.type == "imdb":
        return load_imdb(num_words=ds.num_words, maxlen=ds.maxlen, path=ds.path, base_dir=base_dir,
                         data_dir=data_dir, download=download, input_name=input_names[0], output_name=output_names[0])
    if ds.type == "xor":
        return load_xor(repeat=ds.repeat, noise=ds.noise, seed=seed, input_name=input_names[0], output_name=output_names[0])
    if ds.type == "gaussian":
        return load_gaussian(rows=ds.rows, shape=tuple(ds.shape), classes=ds.classes, seed=ds.seed,
                             input_name=input_names[0], output_name=output_names[0])
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
    if loaders and ds.type in loaders:
        raw = loaders[ds.type](ds, base_dir=base_dir, data_dir=data_dir, download=download)
        return _rename(raw, input_names, output_names, ds.type)
    raise DataError(f"no loader is installed for data set type {ds.type!r}")


def _rename(raw: RawData, input_names: list[str], output_names: list[str], kind: str) -> RawData:
    """Key a plugin loader's single input/output by the model's names; several must already match."""

    def mapping(have: list[str], want: list[str], what: str) -> dict[str, str]:
        if len(have) == 1 and len(want) == 1:
            return {have[0]: want[0]}
        if set(have) != set(want):
            raise DataError(
                f"the {kind} data set provides {what} {', '.join(have)} but the model has {', '.join(want)}"
            )
        return {n: n for n in have}

    ins = mapping(list(raw.train.inputs), input_names, "inputs")
    outs = mapping(list(raw.train.targets), output_names, "outputs")

    def split(s: Split | None) -> Split | None:
        if s is None:
            return None
        return Split(
            inputs={ins[k]: v for k, v in s.inputs.items()},
            targets={outs[k]: v for k, v in s.targets.items()},
            sample_weight=s.sample_weight,
        )

    return RawData(
        train=split(raw.train),
        test=split(raw.test),
        target_kinds={outs[k]: v for k, v in raw.target_kinds.items()},
        num_classes={outs[k]: v for k, v in raw.num_classes.items()},
        meta=dict(raw.meta),
    )
