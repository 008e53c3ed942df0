"""Histogram grids in the lecture's layout (matplotlib's Agg canvas: no pyplot, no display).

One panel per shown layer, left to right, titled "1-layer", "2-layer", … with
the node's name, the layer's key number below (saturated share, zeros and dead
units, or the norm); 30 bins; the bars are the fraction of the layer's values in
each bin, on one y scale for the whole figure (tick labels on the first
column only, as in the lecture).  With several backends, each backend is one
row of panels (its name at the left) with the same bins, so the rows can be
compared at a glance.  More than :data:`COLUMNS` layers wrap onto further rows.

Ranges (the same for every backend):

* activations of a bounded activation: its bounds, e.g. (0, 1) for sigmoid and
  (−1, 1) for tanh;
* other activations: one range per group of panels with the same activation
  type (or op, without one): (0, M) for ReLU-like activations, (−M, M)
  otherwise, M being the largest magnitude over the group's panels — so a
  layer whose values shrink shows a narrower histogram than the layers before;
* pre-activations and gradients: (−M, M) over all the figure's panels (the
  weight-gradient grid draws every parameter gradient of a layer in one panel:
  kernel and bias).

Exact zeros of ReLU-like activations are not drawn (their share, and the dead
units, are written in the panel): they would be one bar holding about half of
the values, flattening every other bar.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from .collect import Inspection, LayerArrays
from .stats import dead_units, norm, saturated

BINS = 30
COLUMNS = 8

QUANTITIES = {
    "activations": "activations",
    "pre_activations": "pre-activations",
    "output_gradient": "gradients of the loss w.r.t. each layer's output",
    "weight_gradients": "gradients of the loss w.r.t. each layer's weights",
}


def _values(arrays: LayerArrays, quantity: str) -> np.ndarray:
    if quantity == "weight_gradients":
        parts = [np.asarray(g, dtype=np.float64).reshape(-1) for g in arrays.gradients.values()]
        return np.concatenate(parts) if parts else np.zeros(0)
    value = getattr(arrays, quantity)
    if value is None:
        raise ValueError(f"layer {arrays.layer.node!r} has no {QUANTITIES[quantity]} (probe them first)")
    return np.asarray(value, dtype=np.float64).reshape(-1)


def _magnitude(values: Sequence[np.ndarray]) -> float:
    top = max((float(np.abs(v).max()) for v in values if v.size), default=0.0)
    return top if top > 0 and math.isfinite(top) else 1.0


def panel_ranges(inspections: Sequence[Inspection], quantity: str) -> dict[str, tuple[float, float]]:
    """Node → the (low, high) range of its panel (see the module docstring)."""
    layers = [a.layer for a in inspections[0].layers]
    values = {layer.node: [_values(insp.layers[i], quantity) for insp in inspections]
              for i, layer in enumerate(layers)}
    if quantity != "activations":
        top = _magnitude([v for vs in values.values() for v in vs])
        return {layer.node: (-top, top) for layer in layers}
    ranges: dict[str, tuple[float, float]] = {}
    for group in dict.fromkeys(layer.group for layer in layers):
        members = [layer for layer in layers if layer.group == group]
        top = _magnitude([v for layer in members for v in values[layer.node]])
        for layer in members:
            if layer.bounds is not None:
                ranges[layer.node] = layer.bounds
            else:
                ranges[layer.node] = (0.0, top) if layer.clamps_at_zero else (-top, top)
    return ranges


def _note(arrays: LayerArrays, quantity: str) -> str:
    layer = arrays.layer
    if quantity == "activations":
        a = arrays.activations
        if layer.bounds is not None:
            return f"saturated {saturated(a, layer.bounds).mean():.1%}"
        if layer.clamps_at_zero:
            dead = dead_units(a)
            return f"zeros {(a == 0).mean():.1%} (not drawn)\ndead units {int(dead.sum())}/{dead.size}"
        return f"std {a.std(dtype=np.float64):.3g}"
    if quantity == "pre_activations":
        return f"std {arrays.pre_activations.std(dtype=np.float64):.3g}"
    values = _values(arrays, quantity)
    return f"norm {norm(values):.3g}" if values.size else "no trainable weights"


def histogram_grid(inspections: Sequence[Inspection], quantity: str, path: str | Path, *,
                   title: str | None = None) -> Path:
    """Write the grid of `quantity` ("activations", "pre_activations" or "output_gradient") to `path` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r} (allowed: {', '.join(QUANTITIES)})")
    if not inspections or not inspections[0].layers:
        raise ValueError("nothing to draw: no layers were inspected")
    n = len(inspections[0].layers)
    cols = min(n, COLUMNS)
    wraps = math.ceil(n / cols)
    rows = wraps * len(inspections)
    ranges = panel_ranges(inspections, quantity)
    # inches: panel, gaps (titles above, notes below a panel), margins
    panel_w, panel_h, gap_w, gap_h, left, right, top, bottom = 2.0, 1.55, 0.22, 1.15, 0.75, 0.2, 0.85, 0.65
    width = left + cols * panel_w + (cols - 1) * gap_w + right
    height = top + rows * panel_h + (rows - 1) * gap_h + bottom
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=gap_w / panel_w, hspace=gap_h / panel_h)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False)
    for b, inspection in enumerate(inspections):
        for i, arrays in enumerate(inspection.layers):
            ax = axes[b * wraps + i // cols][i % cols]
            layer = arrays.layer
            values = _values(arrays, quantity)
            total = max(values.size, 1)
            if quantity == "activations" and layer.clamps_at_zero:
                values = values[values != 0]
            counts, edges = np.histogram(values, bins=BINS, range=ranges[layer.node])
            ax.stairs(counts / total, edges, fill=True, color="tab:blue" if b == 0 else "tab:orange")
            ax.set_title(f"{layer.title}\n{layer.node}{' (output)' if layer.output else ''}", fontsize=9)
            ax.set_xlabel(_note(arrays, quantity), fontsize=7)
            lo, hi = ranges[layer.node]
            ticks = [lo, (lo + hi) / 2, hi]
            ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
            first, *_, last = ax.get_xticklabels()
            first.set_horizontalalignment("left")
            last.set_horizontalalignment("right")
            ax.set_xlim(lo, hi)
            ax.tick_params(labelsize=7)
            if i % cols == 0:
                ax.set_ylabel(f"{inspection.backend}\nfraction of values", fontsize=8)
            else:
                ax.tick_params(labelleft=False)
        for j in range(n, wraps * cols):
            axes[b * wraps + j // cols][j % cols].set_visible(False)
    fig.suptitle(title or QUANTITIES[quantity], fontsize=10, y=1 - 0.12 / height, va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
