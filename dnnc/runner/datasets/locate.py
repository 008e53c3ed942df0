"""Find the four IDX files of a standard data set (MNIST, Fashion-MNIST).

Search order, first complete set wins:

1. the ``--data-dir`` directory (``data_dir``), then the spec's ``dataset.path``
   (``path``, relative to the spec file): each as ``<dir>/<name>/`` and ``<dir>/``;
2. each directory in ``$DNNC_DATA_DIR`` (``os.pathsep``-separated), same two layouts;
3. the user cache ``$XDG_CACHE_HOME/dnnc/<name>`` (default ``~/.cache/dnnc/<name>``);
4. system locations ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist``
   installs ``/usr/share/datasets/fashion-mnist``);
5. a download into the user cache (SHA-256 checked), unless ``download=False``
   or ``$DNNC_OFFLINE`` is set to 1/true/yes.

``<name>`` is ``mnist`` or ``fashion-mnist`` (``fashion_mnist`` is accepted too).
Each file may be gzipped (``train-images-idx3-ubyte.gz``) or plain
(``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import download as _download
from .catalog import FILE_NAMES, ROLES, STANDARD_DATASETS, StandardDataset, accepted_names
from .errors import DataError, DatasetNotFound

SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
"""Parents of the system-wide data-set directories (searched as ``<dir>/<name>``)."""

ENV_DATA_DIR = "DNNC_DATA_DIR"
ENV_OFFLINE = "DNNC_OFFLINE"


@dataclass(frozen=True)
class LocatedFiles:
    """Where a standard data set's files were found."""

    dataset: StandardDataset
    files: dict[str, Path]
    """Role (``train_images``, ``train_labels``, ``test_images``, ``test_labels``) → file."""
    directory: Path
    source: str
    """How the directory was chosen, e.g. ``--data-dir``, ``$DNNC_DATA_DIR``, ``user cache``, ``downloaded``."""


def standard_dataset(name: str) -> StandardDataset:
    """The catalogue entry for ``mnist`` or ``fashion_mnist``."""
    try:
        return STANDARD_DATASETS[name]
    except KeyError:
        known = ", ".join(STANDARD_DATASETS)
        raise DataError(f"unknown standard data set {name!r} (known: {known})") from None


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dnnc``, or ``~/.cache/dnnc`` when the variable is unset or empty."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dnnc"


def offline() -> bool:
    """Whether ``$DNNC_OFFLINE`` forbids downloads."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def locate_dataset(
    name: str,
    *,
    path: Path | str | None = None,
    data_dir: Path | str | None = None,
    base_dir: Path | str | None = None,
    download: bool = True,
) -> LocatedFiles:
    """Find (or download) the files of the standard data set ``name``.

    ``path`` is the spec's ``dataset.path`` (relative paths are taken from
    ``base_dir``, the spec file's directory); ``data_dir`` is ``--data-dir``.
    Raises :class:`DatasetNotFound` listing every place searched.
    """
    dataset = standard_dataset(name)
    report: list[str] = []
    for directory, source, is_alias in candidate_directories(
        dataset, path=path, data_dir=data_dir, base_dir=base_dir, report=report
    ):
        files, problem = find_files_in(directory)
        if files is not None:
            return LocatedFiles(dataset=dataset, files=files, directory=directory, source=source)
        if is_alias and not directory.exists():
            continue  # an alternative spelling that is absent is not worth a line
        report.append(f"{directory} ({source}): {problem}")

    cache = user_cache_dir() / dataset.dir_name
    files = try_download(lambda: _download.download_dataset(dataset, cache), cache, download=download, report=report)
    if files is not None:
        return LocatedFiles(dataset=dataset, files=files, directory=cache, source="downloaded")
    raise DatasetNotFound(not_found_message(dataset, report, cache), places=report)


def try_download(fetch, cache: Path, *, download: bool, report: list[str]):
    """``fetch()``'s result, or None with the reason in ``report`` (downloads disabled, or the download failed)."""
    if not download:
        report.append("download: disabled by the caller (download=False)")
    elif offline():
        report.append(f"download: disabled by ${ENV_OFFLINE}={os.environ.get(ENV_OFFLINE)}")
    else:
        try:
            return fetch()
        except DataError as exc:
            report.append(f"download into {cache}: failed: {exc}")
    return None


def find_files_in(directory: Path) -> tuple[dict[str, Path] | None, str]:
    """The four files in ``directory``, or None and what is wrong with the directory."""
    if not directory.is_dir():
        return None, "no such directory" if not directory.exists() else "not a directory"
    files: dict[str, Path] = {}
    missing: list[str] = []
    for role in ROLES:
        for candidate in accepted_names(role):
            if (directory / candidate).is_file():
                files[role] = directory / candidate
                break
        else:
            missing.append(FILE_NAMES[role])
    if missing:
        if len(missing) == len(ROLES):
            return None, "none of the four files"
        return None, f"incomplete, missing {', '.join(missing)}"
    return files, "found"


def candidate_directories(dataset, *, path, data_dir, base_dir, report):
    """Yield (directory, source, is_alias) in search order; notes unset variables in ``report``.

    ``dataset`` needs ``dir_name`` and ``dir_aliases`` (canonical first).
    """

    def named(directory: Path, source: str):
        for i, alias in enumerate(dataset.dir_aliases):
            yield directory / alias, source, i > 0

    def both_layouts(directory: Path, source: str):
        yield from named(directory, source)
        yield directory, source, False

    if data_dir is not None:
        yield from both_layouts(Path(data_dir).expanduser(), "--data-dir")
    if path is not None:
        spec_path = Path(path).expanduser()
        if not spec_path.is_absolute() and base_dir is not None:
            spec_path = Path(base_dir) / spec_path
        yield from both_layouts(spec_path, "dataset.path in the spec")
    env_value = os.environ.get(ENV_DATA_DIR, "")
    env_dirs = [Path(p).expanduser() for p in env_value.split(os.pathsep) if p.strip()]
    if not env_dirs:
        report.append(f"${ENV_DATA_DIR}: not set")
    for directory in env_dirs:
        yield from both_layouts(directory, f"${ENV_DATA_DIR}")
    yield user_cache_dir() / dataset.dir_name, "user cache", False
    for system_dir in SYSTEM_DIRS:
        yield from named(system_dir, "system location")


def not_found_message(dataset: StandardDataset, report: list[str], cache: Path) -> str:
    """The message of :class:`DatasetNotFound`: places searched, files needed, ways to provide them."""
    lines = [f"{dataset.title} ({dataset.name}) was not found. Places searched, in order:"]
    lines += [f"  {i}. {entry}" for i, entry in enumerate(report, start=1)]
    lines.append("The four files needed (gzipped, or un-gzipped under the same names without .gz):")
    lines += [f"  {FILE_NAMES[role]}" for role in ROLES]
    lines.append("Provide them in one of these ways:")
    lines.append(f"  - put them in a directory DIR (or DIR/{dataset.dir_name}) and pass --data-dir DIR")
    lines.append(f"  - set {ENV_DATA_DIR}=DIR (several directories separated by '{os.pathsep}')")
    lines.append(f"  - copy them into the cache directory {cache}")
    lines.append('  - set dataset = {{ type = "{}", path = "DIR" }} in the spec'.format(dataset.name))
    if dataset.apt_package:
        lines.append(
            f"  - on Debian/Ubuntu: apt install {dataset.apt_package} "
            f"(installs {SYSTEM_DIRS[0] / dataset.dir_name})"
        )
    lines.append(
        f"  - or run once with network access: dnnc downloads them from {dataset.base_url} into the cache "
        "and checks their SHA-256" + (f" (unset {ENV_OFFLINE} to allow it)" if offline() else "")
    )
    return "\n".join(lines)
