"""Registers the built-in Keras backend (entry point ``dnnc.backends.keras.plugin``)."""

from __future__ import annotations

from ...plugins.markers import hookimpl
from .backend import KerasBackend


@hookimpl
def dnnc_backends():
    """The keras backend (cheap to construct; keras/tensorflow are imported only by build/load)."""
    return [KerasBackend()]
