"""Expanding `repeat` blocks (:mod:`dnnc.spec_schema.repeat`) into ordinary layers, before lowering.

``expand_layers(spec.model.layers)`` returns the flat list of layers the model
really has, in order, each with the place in the spec it comes from: a layer
inside a block keeps its own path (``model.layers[0].layers[1]``), so every
error found while lowering any of its copies is reported at that line and
column.  The rules, applied innermost block first:

* copy ``k`` (0-based) of a block holds each of its layers once, in order;
  ``times = 0`` yields none;
* an unnamed layer stays unnamed: the lowering names it ``dense``, ``dense_1``, …
  in the expanded order, like any other layer;
* a layer named ``h`` is named ``h`` in copy 0 and ``h_<k>`` in copy ``k``;
* an ``inputs`` entry that names a layer of the same block is renamed the same
  way (it refers to that layer of the same copy); other names (model inputs,
  layers outside the block) are left as they are;
* a layer without ``inputs`` takes the previous layer's output, as everywhere:
  the first layer of copy ``k > 0`` follows the last layer of copy ``k − 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..spec_schema.repeat import REPEAT
from .errors import Loc


@dataclass(frozen=True)
class ExpandedLayer:
    """One layer of the expanded model and where the spec declares it."""

    layer: Any
    """The layer table (a renamed copy for named layers inside blocks)."""
    path: Loc
    """Its place in the spec, e.g. ``("model", "layers", 0, "layers", 1)``."""
    copies: tuple[int, ...] = field(default=())
    """Copy index in each enclosing block, outermost first (empty outside blocks)."""


def expand_layers(layers: Sequence[Any], base: Loc = ("model", "layers")) -> list[ExpandedLayer]:
    """The layers of ``layers`` with every repeat block expanded (see the module docstring)."""
    out: list[ExpandedLayer] = []
    for i, layer in enumerate(layers):
        path = base + (i,)
        if getattr(layer, "type", None) != REPEAT:
            out.append(ExpandedLayer(layer, path))
            continue
        body = expand_layers(layer.layers, path + ("layers",))
        own = {e.layer.name for e in body if e.layer.name}
        for k in range(layer.times):
            out += [_copy(e, k, own) for e in body]
    return out


def _suffixed(name: str, k: int) -> str:
    return name if k == 0 else f"{name}_{k}"


def _copy(entry: ExpandedLayer, k: int, own: set[str]) -> ExpandedLayer:
    layer = entry.layer
    update: dict[str, Any] = {}
    if k and layer.name:
        update["name"] = _suffixed(layer.name, k)
    if k and layer.inputs and any(src in own for src in layer.inputs):
        update["inputs"] = [_suffixed(src, k) if src in own else src for src in layer.inputs]
    if update:
        layer = layer.model_copy(update=update)
    return ExpandedLayer(layer, entry.path, (k,) + entry.copies)


def has_repeat(layers: Sequence[Any]) -> bool:
    """Whether any entry of ``layers`` is a repeat block."""
    return any(getattr(layer, "type", None) == REPEAT for layer in layers)
