"""Shared fixtures: paths, the bundled datasets, installed backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _data_dir() -> Path | None:
    env = os.environ.get("DNNC_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "datasets")
    for c in candidates:
        if (c / "mnist").is_dir():
            return c
    return None


DATA_DIR = _data_dir()
if DATA_DIR is not None:
    os.environ.setdefault("DNNC_DATA_DIR", str(DATA_DIR))
os.environ.setdefault("DNNC_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if DATA_DIR is None:
        pytest.skip("MNIST files not found: set DNNC_DATA_DIR to a folder holding mnist/ and fashion-mnist/")
    return DATA_DIR


def example_specs() -> list[Path]:
    return sorted(EXAMPLES.glob("*.toml"))
