"""Gradient clipping, as Keras 3 defines it (no epsilon anywhere).

* `clipnorm` c, per variable:      g ← g · c / max(‖g‖, c)
* `global_clipnorm` c, all together: g ← g · c / max(‖G‖, c), ‖G‖ = sqrt(Σ_vars ‖g‖²);
  a non-finite ‖G‖ turns every gradient into NaN (as Keras does)
* `clipvalue` c:                     g ← clip(g, −c, c)

At most one of the three is set (the spec schema enforces it).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def clip_by_norm(grad: np.ndarray, clipnorm: float) -> np.ndarray:
    """Rescale one gradient to L2 norm <= clipnorm (TensorFlow's `clip_by_norm`)."""
    g = np.asarray(grad, dtype=np.float64)
    norm = float(np.sqrt(np.sum(g * g)))
    return g * clipnorm / max(norm, clipnorm)


def clip_by_global_norm(grads: Mapping[str, np.ndarray], clipnorm: float) -> dict[str, np.ndarray]:
    """Rescale all gradients together to a joint L2 norm <= clipnorm."""
    g64 = {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in g64.values())))
    scale = clipnorm / max(norm, clipnorm) if np.isfinite(norm) else float("nan")
    return {k: g * scale for k, g in g64.items()}


def clip_gradients(grads: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Apply the clipping option of an optimizer IR dict (float64 copies; inputs untouched)."""
    if config.get("clipnorm") is not None:
        return {k: clip_by_norm(g, config["clipnorm"]) for k, g in grads.items()}
    if config.get("global_clipnorm") is not None:
        return clip_by_global_norm(grads, config["global_clipnorm"])
    if config.get("clipvalue") is not None:
        c = config["clipvalue"]
        return {k: np.clip(np.asarray(g, dtype=np.float64), -c, c) for k, g in grads.items()}
    return {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}
