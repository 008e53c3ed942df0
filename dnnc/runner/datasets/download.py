"""Download a standard data set into the user cache with pooch, checking SHA-256.

pooch (and requests, which it uses) are imported only when a download is
attempted.  Every failure becomes :class:`DownloadFailed` with a one-line
reason; the caller reports it among the places searched.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .catalog import FILE_NAMES, StandardDataset
from .errors import DataError

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a connection: an offline machine fails at once or after this."""
READ_TIMEOUT = 30.0
"""Seconds to wait for the next bytes of a response."""

# Smallest first, so that a machine without network fails on a 5 kB file.
_DOWNLOAD_ORDER = ("test_labels", "train_labels", "test_images", "train_images")


class DownloadFailed(DataError):
    """A download was attempted and did not produce verified files."""


def download_dataset(dataset: StandardDataset, cache_dir: Path, *, progress: bool | None = None) -> dict[str, Path]:
    """Fetch the four files of ``dataset`` into ``cache_dir`` and return role → path.

    Files already in ``cache_dir`` with the right checksum are not fetched
    again.  ``progress`` shows a progress bar (default: when stderr is a
    terminal).
    """
    files: dict[str, Path] = {}
    for role in _DOWNLOAD_ORDER:
        name = FILE_NAMES[role]
        files[role] = download_file(dataset.base_url + name, dataset.sha256[role], name, cache_dir, progress=progress)
    return files


def download_file(url: str, sha256: str, fname: str, cache_dir: Path, *, progress: bool | None = None) -> Path:
    """Fetch ``url`` into ``cache_dir/fname`` unless a file with the SHA-256 ``sha256`` is already there.

    A download whose checksum differs is discarded.  Raises :class:`DownloadFailed`.
    """
    try:
        import pooch
    except ImportError:  # pragma: no cover - pooch is a dependency
        raise DownloadFailed("pooch is not installed (pip install pooch)") from None
    if progress is None:
        progress = _stderr_is_terminal()
    bar = _progress_bar(fname) if progress else False
    try:
        downloader = pooch.HTTPDownloader(
            progressbar=bar,
            chunk_size=1 << 16,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        )
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}",
            fname=fname,
            path=cache_dir,
            downloader=downloader,
            progressbar=False,
        )
    except Exception as exc:  # any failure of the network, the disk or the checksum
        raise DownloadFailed(f"{url}: {describe_failure(exc)}") from None
    finally:
        if isinstance(bar, _RichBar):
            bar.close()  # idempotent; stops the live display if the transfer broke off
    return Path(path)


def describe_failure(exc: BaseException) -> str:
    """A one-line, traceback-free description of a download failure."""
    try:
        import requests
    except ImportError:  # pragma: no cover
        requests = None
    if requests is not None:
        if isinstance(exc, requests.exceptions.Timeout):
            return f"timed out (no answer within {CONNECT_TIMEOUT:g} s to connect / {READ_TIMEOUT:g} s to read)"
        if isinstance(exc, requests.exceptions.ConnectionError):
            text = str(exc)
            if "Name or service not known" in text or "NameResolution" in text or "resolve" in text:
                return "could not resolve the host name (no network?)"
            return "could not connect (no network?)"
        if isinstance(exc, requests.exceptions.HTTPError):
            status = getattr(exc.response, "status_code", None)
            return f"the server answered HTTP {status}" if status else "HTTP error"
    if isinstance(exc, ValueError) and "hash" in str(exc).lower():
        return "the downloaded file's SHA-256 does not match the official checksum (file discarded)"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _progress_bar(label: str):
    """tqdm when installed (pooch's own choice), else a rich bar with the interface pooch expects."""
    try:
        import tqdm  # noqa: F401

        return True
    except ImportError:
        return _RichBar(label)


class _RichBar:
    """The progress-bar protocol pooch uses: ``total``, ``update(n)``, ``reset()``, ``close()``."""

    def __init__(self, label: str) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self._progress = Progress(
            f"[bold]{label}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=False
        )
        self._task = None
        self.total = 0

    def _ensure(self) -> None:
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("download", total=self.total or None)

    def update(self, n: int) -> None:
        self._ensure()
        self._progress.update(self._task, advance=n, total=self.total or None)

    def reset(self) -> None:
        self._ensure()
        self._progress.reset(self._task, total=self.total or None)

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None
