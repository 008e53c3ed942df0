"""Paths every test folder uses: the checkout, the examples and the bundled datasets."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def find_data_dir() -> Path | None:
    """``$DNNC_DATA_DIR``, else ``../shared/datasets`` beside the checkout, if it holds ``mnist/``."""
    env = os.environ.get("DNNC_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "datasets")
    for c in candidates:
        if (c / "mnist").is_dir():
            return c
    return None


def example_specs() -> list[Path]:
    return sorted(EXAMPLES.glob("*.toml"))
