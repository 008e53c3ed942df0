"""``TorchModel.probe``: every node's output and gradients for one batch (see :class:`dnnc.backends.base.Probe`).

The graph's node modules run one by one in IR order (what ``GraphModule.forward``
does, keeping each value), in inference mode; the loss is the model's own
(:meth:`TorchModel._loss`), and one ``torch.autograd.grad`` call gives ∂loss/∂
of every trainable parameter and of every probed node's output.  The model's
inputs require grad for the duration, so nodes that depend on no parameter
(a flatten of the input) have a gradient too.  A dense or convolution node's
pre-activation is its ``linear`` output, to which its ``act`` is then applied —
exactly the two steps of :class:`.modules.Dense` and :class:`.spatial.Conv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from .layout import from_torch
from ..base import LINEAR_THEN_ACTIVATION, Arrays, Probe, pre_activation_nodes, probe_nodes

if TYPE_CHECKING:  # pragma: no cover
    from .model import TorchModel


def _numpy(tensor: torch.Tensor | None, like: torch.Tensor, transposed: bool = False) -> np.ndarray:
    a = np.zeros(tuple(like.shape), np.float32) if tensor is None else tensor.detach().cpu().numpy()
    return np.asarray(from_torch(a) if transposed else np.array(a, order="C", copy=True), dtype=np.float32)


def probe(model: "TorchModel", inputs: Arrays, targets: Arrays, *, nodes: Sequence[str] | None = None,
          pre_activations: bool = False) -> Probe:
    from .model import _F32, as_tensor

    ir = model.ir
    names = probe_nodes(ir, nodes)
    pre_nodes = set(pre_activation_nodes(ir, names)) if pre_activations else set()
    tensors = [as_tensor(x, _F32, model._device).requires_grad_(True) for x in model._checks.inputs(inputs)]
    model._set_mode(False)
    values: dict[str, torch.Tensor] = dict(zip(ir.inputs, tensors))
    pre: dict[str, torch.Tensor] = {}
    with torch.enable_grad():
        for node in ir.nodes:
            if node.op == "input":
                continue
            module = model.graph.module_for(node.name)
            xs = [values[i] for i in node.inputs]
            if node.name in pre_nodes and node.op in LINEAR_THEN_ACTIVATION:
                z = module.linear(xs[0])
                pre[node.name] = z
                values[node.name] = module.act(z)
            else:
                if node.name in pre_nodes:
                    pre[node.name] = xs[0]
                values[node.name] = module(*xs)
        outs = tuple(values[o.name] for o in ir.outputs)
        total, per_output = model._loss(outs, targets, None)
        watched = [values[name] for name in names]
        grads = torch.autograd.grad(total, [*model._params, *watched], allow_unused=True)
    n_params = len(model._params)
    return Probe(
        losses=model._loss_values(total.detach(), per_output),
        activations={name: _numpy(values[name], values[name]) for name in names},
        output_gradients={name: _numpy(g, values[name]) for name, g in zip(names, grads[n_params:])},
        parameter_gradients={key: _numpy(g, p, transposed)
                             for (key, p, transposed), g in zip(model._trainable, grads[:n_params])},
        pre_activations={name: _numpy(pre[name], pre[name]) for name in names if name in pre},
    )
