"""Weight-regularizer penalties, added to the batch loss (training and evaluation), not divided by the batch size."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def regularizer_penalty(regularizer: Mapping[str, Any], weight: np.ndarray) -> float:
    """l1·Σ|w| + l2·Σw² for one regularizer in IR form ({"l1": …, "l2": …}, as `ParamIR.regularizer`).

    The spec form with a `type` (l1 / l2 / l1_l2) is accepted too; missing factors count as 0.
    """
    kind = regularizer.get("type")
    if kind is not None and kind not in ("l1", "l2", "l1_l2"):
        raise ValueError(f"unknown regularizer type {kind!r}; known: l1, l2, l1_l2")
    w = np.asarray(weight, dtype=np.float64)
    l1 = float(regularizer.get("l1", 0.0) or 0.0)
    l2 = float(regularizer.get("l2", 0.0) or 0.0)
    return l1 * float(np.abs(w).sum()) + l2 * float((w * w).sum())


def penalty(weights: Mapping[str, np.ndarray], regularizers: Mapping[str, Mapping[str, Any]]) -> float:
    """The total penalty: Σ over the regularized weights (weight name → regularizer IR dict)."""
    missing = [name for name in regularizers if name not in weights]
    if missing:
        raise ValueError(f"regularizers name weights that do not exist: {', '.join(missing)}")
    return float(sum(regularizer_penalty(reg, weights[name]) for name, reg in regularizers.items()))
