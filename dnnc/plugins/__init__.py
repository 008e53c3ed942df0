"""Plugin API: hook specifications, the `hookimpl` marker and vocabulary types."""

from .markers import hookimpl
from .vocabulary import CallbackType, DatasetType, LayerType

__all__ = ["hookimpl", "LayerType", "DatasetType", "CallbackType"]
