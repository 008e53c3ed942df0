"""The dnnc plugin module (entry point ``[project.entry-points.dnnc] numpy = "dnnc_numpy.plugin"``)."""

from __future__ import annotations

from dnnc.plugins import hookimpl

from .backend import NumpyBackend


@hookimpl
def dnnc_backends():
    """Register the numpy backend."""
    return [NumpyBackend()]
