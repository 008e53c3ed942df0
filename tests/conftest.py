"""Shared fixtures: the bundled datasets and the offline switch (paths live in support.paths)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.paths import find_data_dir

DATA_DIR = find_data_dir()
if DATA_DIR is not None:
    os.environ.setdefault("DNNC_DATA_DIR", str(DATA_DIR))
os.environ.setdefault("DNNC_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if DATA_DIR is None:
        pytest.skip("MNIST files not found: set DNNC_DATA_DIR to a folder holding mnist/ and fashion-mnist/")
    return DATA_DIR
