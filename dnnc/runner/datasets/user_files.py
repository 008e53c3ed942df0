"""The user's own data: numpy ``.npz`` archives and CSV tables with named features and targets.

Paths are relative to the spec file's directory (``base_dir``).  Errors name
the file, the missing key or column, and list the ones that exist.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Union

import numpy as np

from ..checksums import sha256_file
from .containers import RawData, Split
from .errors import DataError

Selection = Union[str, list[str]]
"""An array key (npz), a column or a list of columns (csv)."""

Task = Literal["auto", "classification", "regression"]


# --------------------------------------------------------------------------
# Shared: paths, names, target kinds
# --------------------------------------------------------------------------


def resolve_path(path: str | Path, base_dir: Path | None) -> Path:
    """``path`` taken relative to ``base_dir`` (the spec file's directory) unless absolute."""
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if not p.is_file():
        where = f" (dataset.path = {str(path)!r}, relative to the spec's directory {base_dir})" if base_dir else ""
        problem = "is a directory, not a file" if p.is_dir() else "not found"
        raise DataError(f"data file {p} {problem}{where}")
    return p


def name_map(
    value: Selection | Mapping[str, Selection] | None,
    names: Sequence[str],
    *,
    what: str,
    default: Selection | None,
) -> dict[str, Selection]:
    """Map each model input (or output) name to its selection.

    ``what`` is ``"features"`` or ``"targets"``; ``names`` are the model's
    input (or output) names.  A single selection needs exactly one name; a
    table must name exactly the model's inputs (outputs).
    """
    kind = "inputs" if what == "features" else "outputs"
    if value is None:
        if default is None:
            raise DataError(f"`{what}` is required for this data set")
        value = default
    if isinstance(value, Mapping):
        given, wanted = list(value), list(names)
        if set(given) != set(wanted):
            missing = [n for n in wanted if n not in value]
            extra = [n for n in given if n not in wanted]
            parts = []
            if missing:
                parts.append(f"no entry for {', '.join(map(repr, missing))}")
            if extra:
                parts.append(f"{', '.join(map(repr, extra))} {'is' if len(extra) == 1 else 'are'} not a model {kind[:-1]}")
            raise DataError(
                f"`{what}` must name each model {kind[:-1]} once: {'; '.join(parts)} "
                f"(model {kind}: {', '.join(wanted)}; {what} names: {', '.join(given) or 'none'})"
            )
        return {n: value[n] for n in wanted}
    if len(names) != 1:
        raise DataError(
            f"the model has {len(names)} {kind} ({', '.join(names)}): give `{what}` as a table "
            f"{kind[:-1]} name → {'key' if what == 'features' else 'key or column'} (received {value!r})"
        )
    return {names[0]: value}


def target_kind(array: np.ndarray, task: Task, *, source: str) -> str:
    """``"class"`` or ``"value"`` for a target array according to ``task``."""
    one_per_row = array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)
    is_int = array.dtype.kind in "iub"
    if task == "regression":
        return "value"
    if task == "classification":
        if not one_per_row:
            raise DataError(f"{source}: class labels need one value per row, found shape {array.shape}")
        if not is_int:
            if array.dtype.kind != "f" or not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                raise DataError(f"{source}: task = \"classification\" needs integer class labels, found {array.dtype} values")
        return "class"
    return "class" if (is_int and one_per_row) else "value"


def _file_meta(path: Path, kind: str) -> dict:
    return {
        "dataset": kind,
        "found_in": str(path.parent),
        "files": [{"role": kind, "path": str(path), "sha256": sha256_file(path), "official": None}],
    }


def _check_rows(arrays: Mapping[str, np.ndarray], source: str) -> None:
    rows = {k: (a.shape[0] if a.ndim else None) for k, a in arrays.items()}
    if any(r is None for r in rows.values()):
        scalars = [k for k, r in rows.items() if r is None]
        raise DataError(f"{source}: {', '.join(scalars)} {'is a scalar' if len(scalars) == 1 else 'are scalars'}, not one row per sample")
    if len(set(rows.values())) > 1:
        listing = ", ".join(f"{k}: {r}" for k, r in rows.items())
        raise DataError(f"{source}: the arrays must have the same number of rows ({listing})")


# --------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------


def load_npz(
    path: str | Path,
    *,
    base_dir: Path | None = None,
    features: Selection | Mapping[str, Selection] | None = None,
    targets: Selection | Mapping[str, Selection] | None = None,
    sample_weight: str | None = None,
    input_names: Sequence[str] = ("input",),
    output_names: Sequence[str] = ("output",),
    task: Task = "auto",
) -> RawData:
    """Read named arrays from an ``.npz`` file.

    Defaults: ``features = "x"``, ``targets = "y"``.  A key ``k`` absent from
    the file reads ``k_train`` (and ``k_test``, when present, as the test rows);
    a key ``k_train`` pairs with ``k_test`` the same way.
    """
    file = resolve_path(path, base_dir)
    fmap = name_map(features, input_names, what="features", default="x")
    tmap = name_map(targets, output_names, what="targets", default="y")
    for what, mapping in (("features", fmap), ("targets", tmap)):
        for name, key in mapping.items():
            if not isinstance(key, str):
                raise DataError(f"{file}: {what} for {name!r} must be one array key, received {key!r}")
    try:
        archive = np.load(file, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {file} as a numpy .npz archive: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{file} holds a single array (.npy format), not a .npz archive of named arrays")
    with archive:
        available = list(archive.files)
        wanted = {("input", n): k for n, k in fmap.items()}
        wanted.update({("target", n): k for n, k in tmap.items()})
        if sample_weight is not None:
            wanted[("weight", "")] = sample_weight
        resolved = {slot: _resolve_key(key, available, file) for slot, key in wanted.items()}
        has_test = {slot: test is not None for slot, (_, test) in resolved.items()}
        if any(has_test.values()) and not all(has_test.values()):
            with_test = sorted({resolved[s][0] for s, t in has_test.items() if t})
            without = sorted({resolved[s][0] for s, t in has_test.items() if not t})
            raise DataError(
                f"{file}: some arrays have separate test arrays ({', '.join(with_test)}) and some do not "
                f"({', '.join(without)}); give every array a `_test` counterpart or none"
            )
        cache: dict[str, np.ndarray] = {}

        def get(key: str) -> np.ndarray:
            if key not in cache:
                try:
                    cache[key] = archive[key]
                except ValueError as exc:
                    raise DataError(f"{file}: cannot read array {key!r}: {exc}") from None
                if cache[key].dtype.kind not in "biuf":
                    raise DataError(f"{file}: array {key!r} holds {cache[key].dtype} values; only numbers are usable")
            return cache[key]

        def split(pick: int) -> Split:
            chosen = {slot: get(keys[pick]) for slot, keys in resolved.items()}
            _check_rows({resolved[slot][pick]: a for slot, a in chosen.items()}, str(file))
            return Split(
                inputs={n: chosen[("input", n)] for n in fmap},
                targets={n: chosen[("target", n)] for n in tmap},
                sample_weight=chosen.get(("weight", "")),
            )

        train = split(0)
        test = split(1) if any(has_test.values()) else None
    kinds = {
        n: target_kind(train.targets[n], task, source=f"{file} array {resolved[('target', n)][0]!r}") for n in tmap
    }
    meta = _file_meta(file, "npz")
    meta["arrays"] = {
        "features": {n: resolved[("input", n)][0] for n in fmap},
        "targets": {n: resolved[("target", n)][0] for n in tmap},
        "test_arrays": any(has_test.values()),
    }
    if sample_weight is not None:
        meta["arrays"]["sample_weight"] = resolved[("weight", "")][0]
    if any(has_test.values()):
        meta["arrays"]["test"] = {
            "features": {n: resolved[("input", n)][1] for n in fmap},
            "targets": {n: resolved[("target", n)][1] for n in tmap},
            **({"sample_weight": resolved[("weight", "")][1]} if sample_weight is not None else {}),
        }
    return RawData(train=train, test=test, target_kinds=kinds, meta=meta)


def _resolve_key(key: str, available: list[str], file: Path) -> tuple[str, str | None]:
    """(training key, test key or None) for ``key`` in an archive holding ``available``."""
    if key in available:
        if key.endswith("_train") and key[: -len("_train")] + "_test" in available:
            return key, key[: -len("_train")] + "_test"
        return key, None
    if key + "_train" in available:
        test = key + "_test"
        return key + "_train", (test if test in available else None)
    raise DataError(
        f"{file} has no array {key!r}" + (f" (nor {key + '_train'!r})" if not key.endswith("_train") else "")
        + f"; arrays in the file: {', '.join(available) or 'none'}"
    )


# --------------------------------------------------------------------------
# csv
# --------------------------------------------------------------------------


def load_csv(
    path: str | Path,
    *,
    base_dir: Path | None = None,
    delimiter: str = ",",
    header: bool = True,
    features: Selection | Mapping[str, Selection] | None = None,
    targets: Selection | Mapping[str, Selection] | None = None,
    sample_weight: str | None = None,
    input_names: Sequence[str] = ("input",),
    output_names: Sequence[str] = ("output",),
    task: Task = "auto",
) -> RawData:
    """Read named columns of a CSV table.

    A feature given as one column becomes shape (n, 1), as a list of columns
    (n, k).  A target given as one column becomes shape (n,), as a list (n, k).
    Default features: every column that is neither a target nor the weight.
    """
    file = resolve_path(path, base_dir)
    columns, rows, lines = _read_table(file, delimiter, header)
    tmap = name_map(targets, output_names, what="targets", default=None)
    used = {c for sel in tmap.values() for c in _as_list(sel)} | ({sample_weight} if sample_weight else set())
    default_features = [c for c in columns if c not in used]
    fmap = name_map(features, input_names, what="features", default=default_features)
    for what, mapping in (("features", fmap), ("targets", tmap)):
        for name, sel in mapping.items():
            for col in _as_list(sel):
                if col not in columns:
                    raise DataError(
                        f"{file} has no column {col!r} (in {what} for {name!r}); columns: {', '.join(columns)}"
                    )
    if sample_weight is not None and sample_weight not in columns:
        raise DataError(f"{file} has no column {sample_weight!r} (sample_weight); columns: {', '.join(columns)}")
    if not default_features and features is None:
        raise DataError(f"{file}: no columns are left for the features once the targets are taken")

    cache: dict[str, np.ndarray] = {}

    def column(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = _parse_column(rows, lines, columns.index(name), name, file)
        return cache[name]

    def select(sel: Selection, as_feature: bool) -> np.ndarray:
        if isinstance(sel, str):
            col = column(sel)
            return col.reshape(-1, 1).astype(np.float64) if as_feature else col
        return np.stack([column(c).astype(np.float64) for c in sel], axis=1)

    train = Split(
        inputs={n: select(sel, True) for n, sel in fmap.items()},
        targets={n: select(sel, False) for n, sel in tmap.items()},
        sample_weight=None if sample_weight is None else column(sample_weight).astype(np.float64),
    )
    kinds = {n: target_kind(train.targets[n], task, source=f"{file} column(s) {tmap[n]!r}") for n in tmap}
    meta = _file_meta(file, "csv")
    meta["columns"] = {"features": {n: _as_list(s) for n, s in fmap.items()}, "targets": {n: _as_list(s) for n, s in tmap.items()}}
    return RawData(train=train, test=None, target_kinds=kinds, meta=meta)


def _as_list(sel: Selection) -> list[str]:
    return [sel] if isinstance(sel, str) else list(sel)


def _read_table(file: Path, delimiter: str, header: bool) -> tuple[list[str], list[list[str]], list[int]]:
    """Column names, data rows, and each data row's line number in the file (blank lines are skipped)."""
    table: list[list[str]] = []
    lines: list[int] = []
    try:
        with file.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    table.append(row)
                    lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {file} as CSV: {exc}") from None
    if not table:
        raise DataError(f"{file} is empty")
    width = len(table[0])
    if header:
        columns = [c.strip() for c in table[0]]
        table, lines = table[1:], lines[1:]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise DataError(f"{file}: column names must be unique, repeated: {', '.join(dupes)}")
    else:
        columns = [str(i) for i in range(width)]
    if not table:
        raise DataError(f"{file} has a header but no data rows")
    for row, line in zip(table, lines):
        if len(row) != width:
            raise DataError(
                f"{file} line {line}: {len(row)} fields where the {'header' if header else 'first line'} "
                f"has {width} (delimiter {delimiter!r})"
            )
    return columns, table, lines


def _parse_column(rows: list[list[str]], lines: list[int], index: int, name: str, file: Path) -> np.ndarray:
    text = np.array([row[index].strip() for row in rows])
    empty = np.flatnonzero(text == "")
    if empty.size:
        line = lines[int(empty[0])]
        raise DataError(f"{file} line {line}: column {name!r} is empty ({empty.size} empty cells in that column)")
    try:
        return text.astype(np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        values = text.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            first = int(bad[0])
            raise DataError(f"{file} line {lines[first]}: column {name!r} holds {str(text[first])!r}, not a finite "
                            f"number ({bad.size} of {len(values)} rows of that column hold NaN or infinite values; "
                            f"the first is data row {first})")
        return values
    except ValueError:
        for i, cell in enumerate(text):
            try:
                float(cell)
            except ValueError:
                line = lines[i]
                raise DataError(f"{file} line {line}: column {name!r} holds {str(cell)!r}, not a number") from None
        raise  # pragma: no cover
