"""California housing: one archive, found or downloaded like MNIST, read as scikit-learn reads it.

The canonical file is ``cal_housing.tgz``, the archive scikit-learn's
``fetch_california_housing`` downloads (from figshare, file 5976036; the data
were published on StatLib).  It holds ``CaliforniaHousing/cal_housing.data``:
20,640 comma-separated rows of longitude, latitude, housingMedianAge,
totalRooms, totalBedrooms, population, households, medianIncome,
medianHouseValue.

Search order, first file found wins (the same places as MNIST, see
:mod:`dnnc.runner.datasets.locate`): ``--data-dir``, the spec's
``dataset.path``, ``$DNNC_DATA_DIR`` (each as ``<dir>/california_housing/`` and
``<dir>/``), the user cache ``~/.cache/dnnc/california_housing``,
``/usr/share/datasets/california_housing``, then a download into the cache,
SHA-256 checked, unless downloads are disabled.  Each directory may hold the
archive or the extracted ``cal_housing.data`` (directly or under
``CaliforniaHousing/``).

The checksum is the one scikit-learn's source records for the archive
(``sklearn/datasets/_california_housing.py``); dnnc could not download the file
to confirm it where it was written, see docs/tuning.md.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import download as _download
from .containers import RawData, Split
from .errors import DataError, DatasetNotFound
from .locate import ENV_DATA_DIR, ENV_OFFLINE, SYSTEM_DIRS, candidate_directories, offline, try_download, user_cache_dir


@dataclass(frozen=True)
class HousingSource:
    """Where California housing comes from and how it is recognised."""

    name: str = "california_housing"
    title: str = "California housing"
    dir_name: str = "california_housing"
    dir_aliases: tuple[str, ...] = ("california_housing", "california-housing")
    archive: str = "cal_housing.tgz"
    member: str = "CaliforniaHousing/cal_housing.data"
    url: str = "https://ndownloader.figshare.com/files/5976036"
    sha256: str = "aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681"
    """SHA-256 of ``cal_housing.tgz`` as recorded by scikit-learn (ARCHIVE.checksum)."""
    rows: int = 20_640


CALIFORNIA_HOUSING = HousingSource()

FEATURES = ("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude")
"""The eight features, in order (scikit-learn's ``feature_names``)."""

TEST_FRACTION = 0.25
SPLIT_SEED = 42
"""``train_test_split(X, y, random_state=42)``: test = the first ceil(0.25·n) of RandomState(42).permutation(n)."""

_COLUMNS = 9


def find_housing_file(source: HousingSource = CALIFORNIA_HOUSING, *, path=None, data_dir=None, base_dir=None,
                      download: bool = True) -> tuple[Path, str]:
    """(file, how it was found): the archive or the extracted data file. Raises :class:`DatasetNotFound`."""
    return find_source_file(source, (source.archive, source.member, Path(source.member).name),
                            f"{source.archive} (scikit-learn's archive, SHA-256 {source.sha256}),\nor the "
                            f"{source.member} it holds.", path=path, data_dir=data_dir, base_dir=base_dir,
                            download=download)


def find_source_file(source, names: tuple[str, ...], needed: str, *, path=None, data_dir=None, base_dir=None,
                     download: bool = True) -> tuple[Path, str]:
    """(file, how it was found) of a data set held in one file (California housing, IMDB): the first of `names`
    in the places MNIST is searched, else ``source.url`` downloaded into the cache with its SHA-256 checked.
    `source` has name, title, dir_name, dir_aliases, archive (the downloaded file's name), url and sha256;
    `needed` describes the file in the not-found message.  Raises :class:`DatasetNotFound`."""
    report: list[str] = []
    for directory, where, is_alias in candidate_directories(source, path=path, data_dir=data_dir,
                                                            base_dir=base_dir, report=report):
        for name in names:
            if (directory / name).is_file():
                return directory / name, f"{directory} ({where})"
        if is_alias and not directory.exists():
            continue
        state = "no such directory" if not directory.exists() else ("not a directory" if not directory.is_dir()
                                                                    else f"no {source.archive}")
        report.append(f"{directory} ({where}): {state}")
    cache = user_cache_dir() / source.dir_name
    file = try_download(lambda: _download.download_file(source.url, source.sha256, source.archive, cache), cache,
                        download=download, report=report)
    if file is not None:
        return file, "downloaded"
    raise DatasetNotFound(not_found_message(source, report, cache, needed), places=report)


def not_found_message(source, report: list[str], cache: Path, needed: str) -> str:
    lines = [f"{source.title} ({source.name}) was not found. Places searched, in order:"]
    lines += [f"  {i}. {entry}" for i, entry in enumerate(report, start=1)]
    lines += [f"The file needed: {line}" if i == 0 else line for i, line in enumerate(needed.splitlines())]
    lines.append("Provide it in one of these ways:")
    lines.append(f"  - put it in a directory DIR (or DIR/{source.dir_name}) and pass --data-dir DIR")
    lines.append(f"  - set {ENV_DATA_DIR}=DIR (several directories separated by '{os.pathsep}')")
    lines.append(f"  - copy it into the cache directory {cache}")
    lines.append(f'  - set dataset = {{ type = "{source.name}", path = "DIR" }} in the spec')
    lines.append(f"  - or run once with network access: dnnc downloads {source.url} into the cache and checks its "
                 "SHA-256" + (f" (unset {ENV_OFFLINE} to allow it)" if offline() else ""))
    return "\n".join(lines)


def read_table(file: Path, source: HousingSource = CALIFORNIA_HOUSING) -> tuple[np.ndarray, str]:
    """The (n, 9) float64 table of the archive or data file, in the file's column order, and the file's SHA-256."""
    raw = file.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if file.name.endswith((".tgz", ".tar.gz")):
        try:
            with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as archive:
                member = archive.extractfile(source.member)
                if member is None:
                    raise KeyError(source.member)
                text = member.read()
        except KeyError:
            raise DataError(f"{file}: the archive has no {source.member}") from None
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{file}: not a readable .tgz archive ({exc})") from None
    else:
        text = raw
    try:
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{file}: cannot read the comma-separated rows ({exc})") from None
    if table.shape[1] != _COLUMNS or table.shape[0] == 0:
        raise DataError(f"{file}: expected rows of {_COLUMNS} comma-separated numbers, found shape {table.shape}")
    if not np.isfinite(table).all():
        raise DataError(f"{file}: holds values that are not finite numbers")
    if (table[:, 6] <= 0).any():
        raise DataError(f"{file}: a row has households ≤ 0 (column 7), so the averages are undefined")
    return table, digest


def features_and_target(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's transformation: (n, 8) features in :data:`FEATURES` order, (n,) target in $100,000."""
    lon, lat, age, rooms, bedrooms, population, households, income, value = table.T
    x = np.stack([income, age, rooms / households, bedrooms / households, population, population / households,
                  lat, lon], axis=1)
    return x, value / 100_000.0


def split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, test rows) exactly as ``train_test_split(..., random_state=42)`` chooses them."""
    n_test = math.ceil(TEST_FRACTION * n)
    permutation = np.random.RandomState(SPLIT_SEED).permutation(n)
    return permutation[n_test:], permutation[:n_test]


def load_california_housing(*, path=None, base_dir=None, data_dir=None, download: bool = True,
                            input_name: str = "input", output_name: str = "output",
                            source: HousingSource = CALIFORNIA_HOUSING) -> RawData:
    """The 8 features (float64 → float32 in preparation) and the target (n, 1), split as the lecture splits them."""
    file, found_in = find_housing_file(source, path=path, data_dir=data_dir, base_dir=base_dir, download=download)
    table, digest = read_table(file, source)
    x, y = features_and_target(table)
    train, test = split_indices(x.shape[0])

    def part(index: np.ndarray) -> Split:
        return Split(inputs={input_name: x[index]}, targets={output_name: y[index].reshape(-1, 1)})

    is_archive = file.name == source.archive
    return RawData(
        train=part(train),
        test=part(test),
        target_kinds={output_name: "value"},
        meta={
            "dataset": source.name,
            "found_in": found_in,
            "features": list(FEATURES),
            "files": [{"role": "archive" if is_archive else "data", "path": str(file), "sha256": digest,
                       "official": digest == source.sha256 if is_archive else None}],
        },
    )


__all__ = ["CALIFORNIA_HOUSING", "FEATURES", "HousingSource", "features_and_target", "find_housing_file",
           "load_california_housing", "read_table", "split_indices", "SYSTEM_DIRS"]
