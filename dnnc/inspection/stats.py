"""Per-layer statistics of an :class:`~.collect.Inspection` (all computed in float64).

For every shown layer:

* ``activations``: mean, std (population), min, max over every value (rows × units);
  for a **bounded** activation (:data:`.layers.BOUNDS`: sigmoid, hard_sigmoid in
  (0, 1), tanh, softsign in (−1, 1)) also ``saturated_fraction``: the fraction
  of values within :data:`SATURATION_MARGIN` = 0.05 of a bound (sigmoid:
  a ≤ 0.05 or a ≥ 0.95; tanh: |a| ≥ 0.95 — there the derivative is at most
  0.0475, 19 % of sigmoid's maximum 0.25, resp. 0.0975, about 10 % of tanh's
  maximum 1); for a **ReLU-like** activation (relu, relu6, leaky_relu with
  negative_slope 0) ``zero_fraction`` (values exactly 0), ``dead_units`` and
  ``dead_fraction`` (units — the last axis — that are exactly 0 for every row
  and position: they pass no gradient to their weights for these rows);
* ``pre_activations`` (when probed): mean, std, min, max of the values the
  activation function receives;
* ``output_gradient``: mean, std, min, max and ``norm`` (L2 norm over every
  value) of ∂loss/∂(layer output), and ``norm_ratio``: that norm divided by the
  last shown layer's (None when the last layer's is 0);
* ``parameters``: per parameter its shape, the ``weights`` (mean, std, min, max)
  and, for trainable ones, its ``gradient`` (mean, std, min, max, norm); then
  ``parameter_gradient_norm`` (the L2 norm over all the layer's parameter
  gradients, None without trainable parameters) and ``parameter_gradient_ratio``
  (divided by the last layer with parameter gradients' norm).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .collect import Inspection, LayerArrays
from .layers import Layer

#: A bounded activation's value is saturated within this distance of a bound.
SATURATION_MARGIN = 0.05


def summary(values: np.ndarray) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


def norm(values: np.ndarray) -> float:
    return float(np.sqrt(np.square(np.asarray(values, dtype=np.float64)).sum()))


def saturated(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Which values lie within :data:`SATURATION_MARGIN` of a bound."""
    lo, hi = bounds
    return (values <= lo + SATURATION_MARGIN) | (values >= hi - SATURATION_MARGIN)


def dead_units(values: np.ndarray) -> np.ndarray:
    """Per unit (last axis): True when the unit is exactly 0 for every row and position."""
    return ~np.any(values.reshape(-1, values.shape[-1]) != 0, axis=0)


def activation_stats(layer: Layer, values: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = summary(values)
    if layer.bounds is not None:
        out["saturated_fraction"] = float(saturated(values, layer.bounds).mean()) if values.size else 0.0
    if layer.clamps_at_zero:
        dead = dead_units(values)
        out["zero_fraction"] = float((values == 0).mean()) if values.size else 0.0
        out["dead_units"] = int(dead.sum())
        out["units"] = int(dead.size)
        out["dead_fraction"] = float(dead.mean()) if dead.size else 0.0
    return out


def _ratio(value: float | None, last: float | None) -> float | None:
    if value is None or not last:
        return None
    return value / last


def layer_stats(arrays: LayerArrays) -> dict[str, Any]:
    """The statistics of one layer without the ratios (see :func:`inspection_stats`)."""
    layer = arrays.layer
    gradient = summary(arrays.output_gradient)
    gradient["norm"] = norm(arrays.output_gradient)
    params: dict[str, Any] = {}
    squares = None
    for name, w in arrays.weights.items():
        entry: dict[str, Any] = {"shape": list(w.shape), "weights": summary(w)}
        g = arrays.gradients.get(name)
        if g is not None:
            entry["gradient"] = {**summary(g), "norm": norm(g)}
            squares = (squares or 0.0) + entry["gradient"]["norm"] ** 2
        params[name] = entry
    out: dict[str, Any] = {
        "index": layer.index, "title": layer.title, "node": layer.node, "op": layer.op,
        "activation": layer.activation, "label": layer.label,
        "activations": activation_stats(layer, arrays.activations),
    }
    if arrays.pre_activations is not None:
        out["pre_activations"] = summary(arrays.pre_activations)
    out["output_gradient"] = gradient
    out["parameters"] = params
    out["parameter_gradient_norm"] = None if squares is None else float(np.sqrt(squares))
    return out


def inspection_stats(inspection: Inspection) -> list[dict[str, Any]]:
    """Every layer's statistics, with the gradient norms' ratios to the last layer's."""
    rows = [layer_stats(a) for a in inspection.layers]
    if not rows:
        return rows
    last_output = rows[-1]["output_gradient"]["norm"]
    with_params = [r["parameter_gradient_norm"] for r in rows if r["parameter_gradient_norm"] is not None]
    last_param = with_params[-1] if with_params else None
    for r in rows:
        r["output_gradient"]["norm_ratio"] = _ratio(r["output_gradient"]["norm"], last_output)
        r["parameter_gradient_ratio"] = _ratio(r["parameter_gradient_norm"], last_param)
    return rows
