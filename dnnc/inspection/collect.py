"""One backend's arrays for some rows: every shown layer's activations, gradients and weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..backends.base import CompiledModel, run_probe
from ..compiler.ir import ModelIR
from .layers import Layer, inspected_layers


@dataclass
class LayerArrays:
    """What was measured for one layer (float32 arrays, batch axis first)."""

    layer: Layer
    activations: np.ndarray
    output_gradient: np.ndarray
    """∂loss/∂(the layer's output)."""
    pre_activations: np.ndarray | None = None
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    """Parameter name → value (canonical layout), every parameter of the node."""
    gradients: dict[str, np.ndarray] = field(default_factory=dict)
    """Parameter name → ∂loss/∂parameter, trainable parameters only."""


@dataclass
class Inspection:
    """One backend's measurement of one model on some rows (inference mode)."""

    backend: str
    rows: int
    losses: dict[str, float]
    layers: list[LayerArrays]


def inspect_model(model: CompiledModel, ir: ModelIR, inputs: Mapping[str, np.ndarray],
                  targets: Mapping[str, np.ndarray], *, pre_activations: bool = False,
                  layers: Sequence[Layer] | None = None) -> Inspection:
    """Probe the model once on the given rows (one batch) and gather every shown layer's arrays."""
    layers = list(inspected_layers(ir) if layers is None else layers)
    probe = run_probe(model, inputs, targets, nodes=[layer.node for layer in layers],
                      pre_activations=pre_activations)
    weights = model.get_weights()
    gathered = []
    for layer in layers:
        params = [p.name for p in ir.node(layer.node).params]
        gathered.append(LayerArrays(
            layer=layer,
            activations=probe.activations[layer.node],
            output_gradient=probe.output_gradients[layer.node],
            pre_activations=probe.pre_activations.get(layer.node),
            weights={name: weights[f"{layer.node}/{name}"] for name in params},
            gradients={name: probe.parameter_gradients[f"{layer.node}/{name}"] for name in params
                       if f"{layer.node}/{name}" in probe.parameter_gradients},
        ))
    rows = int(np.shape(next(iter(inputs.values())))[0]) if inputs else 0
    return Inspection(backend=model.backend_name, rows=rows, losses=dict(probe.losses), layers=gathered)
