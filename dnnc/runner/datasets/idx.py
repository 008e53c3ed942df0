"""Read IDX files (the MNIST format), gzipped or plain, with numpy.

An IDX file is a 4-byte magic number — two zero bytes, a type code, the number
of dimensions — then one big-endian uint32 per dimension, then the values in
C order (big-endian for multi-byte types).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IdxFile:
    """One IDX file read from disk."""

    path: Path
    array: np.ndarray
    sha256: str
    """SHA-256 of the file as stored (gzipped or not)."""
    raw_sha256: str
    """SHA-256 of the decompressed IDX bytes."""


def read_idx(path: Path | str) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzip detected by content)."""
    return read_idx_file(path).array


def read_idx_file(path: Path | str) -> IdxFile:
    """Read ``path`` and return its array with the checksums of the stored and decompressed bytes."""
    path = Path(path)
    try:
        stored = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from None
    raw = _decompress(stored, path) if stored[:2] == _GZIP_MAGIC else stored
    array = parse_idx(raw, source=str(path))
    stored_sha = hashlib.sha256(stored).hexdigest()
    raw_sha = stored_sha if raw is stored else hashlib.sha256(raw).hexdigest()
    return IdxFile(path=path, array=array, sha256=stored_sha, raw_sha256=raw_sha)


def _decompress(stored: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(stored)
    except EOFError:
        raise DataError(f"corrupt IDX file {path}: the gzip stream is truncated (file of {len(stored)} bytes)") from None
    except (OSError, zlib.error) as exc:
        raise DataError(f"corrupt IDX file {path}: not a valid gzip stream ({exc})") from None


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode decompressed IDX bytes; ``source`` names the file in error messages.

    The result is in native byte order; for uint8/int8 data it is a read-only
    view of ``raw`` (copy it, e.g. with ``astype``, before writing to it).
    """
    if len(raw) < 4:
        raise DataError(f"corrupt IDX file {source}: {len(raw)} bytes, too short for the 4-byte IDX header")
    zero1, zero2, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero1 != 0 or zero2 != 0 or code not in _TYPE_CODES:
        raise DataError(
            f"not an IDX file: {source} starts with bytes {raw[:4].hex(' ')}; an IDX file starts with "
            "00 00, a type code (08 uint8, 09 int8, 0b int16, 0c int32, 0d float32, 0e float64) and the "
            "number of dimensions"
        )
    if ndim == 0:
        raise DataError(f"corrupt IDX file {source}: the header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"corrupt IDX file {source}: truncated header ({len(raw)} bytes; {ndim} dimensions need {header})"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _TYPE_CODES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual < expected:
        raise DataError(
            f"truncated IDX file {source}: the header declares shape {shape} ({expected} data bytes) "
            f"but only {actual} data bytes follow"
        )
    if actual > expected:
        raise DataError(
            f"corrupt IDX file {source}: the header declares shape {shape} ({expected} data bytes) "
            f"but {actual} data bytes follow"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return array
