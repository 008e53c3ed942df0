"""Writing files so that a crash leaves either the old file or the complete new one.

The data goes to a temporary file in the target's directory, is flushed and
``fsync``-ed, then renamed over the target with ``os.replace`` (atomic on POSIX
and Windows), and the directory is ``fsync``-ed so the rename itself is
durable.  A process killed mid-write leaves at most a stray ``.<name>.tmp-*``
file next to the target, never a truncated target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Mapping

import numpy as np


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back: Python has no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_path_for(path: Path, suffix: str | None = None) -> Path:
    """A fresh, unused temporary path in ``path``'s directory (same suffix unless given).

    ``mkstemp`` creates the file with mode 0600; it is given the mode a plain ``open`` would give it
    (0666 minus the umask), so that the renamed file is like every other file of the run."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix if suffix is None else suffix, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    return Path(name)


def fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def commit(temp: Path, path: Path) -> Path:
    """fsync ``temp``, rename it over ``path``, fsync the directory."""
    with open(temp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(temp, path)
    fsync_directory(Path(path).parent)
    return Path(path)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically: ``write(f)`` fills a temporary file that then replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(path)
    try:
        with open(temp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return path


def atomic_save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Save arrays as an uncompressed ``.npz`` archive (whatever the suffix), atomically."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))
