"""Output heads in NumPy: the activation the compiler moved from the output layer to the loss.

One definition for the whole of dnnc: the reference losses, the metrics and the
predictions of ``dnnc predict`` all apply a head through :func:`apply_head`.
Everything is computed in float64.
"""

from __future__ import annotations

import numpy as np

HEADS = ("linear", "softmax", "sigmoid")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−z), written with e^−|z| so that it neither overflows nor loses small values (float64)."""
    x = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """e^z / Σ e^z over `axis`, shifted by the maximum (float64)."""
    x = np.asarray(z, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def apply_head(head: str, output: np.ndarray) -> np.ndarray:
    """head(output) in float64: softmax over the last axis, sigmoid, or identity (linear)."""
    if head == "softmax":
        return softmax(output)
    if head == "sigmoid":
        return sigmoid(output)
    return np.asarray(output, dtype=np.float64)
