"""The real backends as pytest parameters, each skipped (naming it) when it is not available here."""

from __future__ import annotations

import pytest


def available(name: str) -> bool:
    """Whether backend `name` is registered and its framework imports."""
    from dnnc.runner.api import get_backend

    try:
        get_backend(name)
        return True
    except Exception:
        return False


BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(not available(b), reason=f"backend {b!r} is not available"))
            for b in ("torch", "keras")]
"""torch and keras, as ``pytest.mark.parametrize`` values."""
