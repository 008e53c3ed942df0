"""Data loading for the runner: `[data]` tables in, numpy arrays out."""

from .containers import Datasets, RawData, Split
from .errors import DataError, DatasetNotFound
from .idx import parse_idx, read_idx, read_idx_file
from .load import load_data, load_raw
from .locate import LocatedFiles, locate_dataset, user_cache_dir
from .prepare import prepare

__all__ = [
    "DataError",
    "DatasetNotFound",
    "Datasets",
    "LocatedFiles",
    "RawData",
    "Split",
    "load_data",
    "load_raw",
    "locate_dataset",
    "parse_idx",
    "prepare",
    "read_idx",
    "read_idx_file",
    "user_cache_dir",
]
