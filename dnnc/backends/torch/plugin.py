"""Registers the built-in PyTorch backend (entry point ``dnnc.backends.torch.plugin``)."""

from __future__ import annotations

from ...plugins.markers import hookimpl
from .backend import TorchBackend


@hookimpl
def dnnc_backends():
    """The torch backend (cheap to construct; torch is imported only by build/load)."""
    return [TorchBackend()]
