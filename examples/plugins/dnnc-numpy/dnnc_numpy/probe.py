"""``NumpyModel.probe``: every node's output and gradients for one batch (dnnc.backends.base.Probe).

The model's own passes in inference mode: ``_run`` keeps every node's value,
``_losses`` seeds ∂L/∂output, ``_backward(every_value=True)`` carries the
gradient to every node (not only to those on a path from a parameter), and
``_penalty_gradients`` adds the regularisation terms, as ``loss_and_gradients``
does.  A dense node's pre-activation is ``x @ kernel + bias`` of its input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from dnnc.backends.base import Arrays, Probe, pre_activation_nodes, probe_nodes

from .layers import _linear_forward

if TYPE_CHECKING:  # pragma: no cover
    from .model import NumpyModel


def _f32(a: np.ndarray) -> np.ndarray:
    return np.array(a, dtype=np.float32, copy=True)


def probe(model: "NumpyModel", inputs: Arrays, targets: Arrays, *, nodes: Sequence[str] | None = None,
          pre_activations: bool = False) -> Probe:
    ir = model.ir
    names = probe_nodes(ir, nodes)
    slot = {n.name: i for i, n in enumerate(ir.nodes)}
    values, caches = model._run(inputs, False, None)
    total, per_output, dvalues = model._losses(values, targets, None, True)
    grads = model._backward(caches, dvalues, every_value=True)
    model._penalty_gradients(grads)
    pre = {}
    if pre_activations:
        for name in pre_activation_nodes(ir, names):
            i = slot[name]
            x = values[model._slots[i][0]]
            layer = model.layers[i]
            pre[name] = _linear_forward(x, layer.kernel, layer.bias) if layer.op == "dense" else x
    return Probe(
        losses=model._loss_values(total, per_output),
        activations={name: _f32(values[slot[name]]) for name in names},
        output_gradients={name: _f32(np.zeros_like(values[slot[name]]) if dvalues[slot[name]] is None
                                     else dvalues[slot[name]]) for name in names},
        parameter_gradients={key: _f32(grads[key]) if key in grads else np.zeros(w.shape, np.float32)
                             for key, w in model.trainable},
        pre_activations={name: _f32(z) for name, z in pre.items()},
    )
