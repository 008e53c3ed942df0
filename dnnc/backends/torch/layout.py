"""The one conversion between dnnc's canonical kernel layout and torch's weight layout.

=========  ===================================  ===============================================
op         canonical (Keras's)                  torch
=========  ===================================  ===============================================
dense      kernel ``(in, units)``               ``Linear.weight`` ``(units, in)``
conv1d     kernel ``(k, in/groups, filters)``   ``conv1d`` weight ``(filters, in/groups, k)``
conv2d     kernel ``(kh, kw, in/groups, f)``    ``conv2d`` weight ``(f, in/groups, kh, kw)``
=========  ===================================  ===============================================

In every case torch's axes are the canonical ones with the last two swapped
and moved to the front: ``(…window, in, out) → (out, in, …window)``.  Building
a model, ``get_weights``/``set_weights``, gradients, optimizer slots and
therefore ``dnnc convert`` all go through :func:`to_torch` and
:func:`from_torch`; a parameter bound "transposed" in
:data:`dnnc.backends.torch.converters.PARAM_BINDINGS` is stored this way, every
other parameter as it is.  NumPy only (no torch import).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def torch_axes(ndim: int) -> tuple[int, ...]:
    """The canonical axes in torch's order: ``(ndim − 1, ndim − 2, 0, …, ndim − 3)``."""
    return (ndim - 1, ndim - 2, *range(ndim - 2))


def torch_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The torch shape of a kernel of canonical shape `shape`."""
    shape = tuple(shape)
    return tuple(shape[i] for i in torch_axes(len(shape))) if len(shape) >= 2 else shape


def to_torch(a: np.ndarray) -> np.ndarray:
    """A canonical kernel in torch's layout (C-contiguous float32 copy); arrays of rank < 2 unchanged."""
    a = np.asarray(a)
    out = np.transpose(a, torch_axes(a.ndim)) if a.ndim >= 2 else a
    return np.array(out, dtype=np.float32, order="C", copy=True)


def from_torch(a: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_torch`: a torch weight in the canonical layout (C-contiguous copy)."""
    a = np.asarray(a)
    out = np.transpose(a, np.argsort(torch_axes(a.ndim))) if a.ndim >= 2 else a
    return np.array(out, order="C", copy=True)
