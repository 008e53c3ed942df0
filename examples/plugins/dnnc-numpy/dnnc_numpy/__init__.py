"""dnnc-numpy: a third-party dnnc backend in pure NumPy (an example plugin)."""

from .backend import NumpyBackend
from .model import NumpyModel

__all__ = ["NumpyBackend", "NumpyModel"]
