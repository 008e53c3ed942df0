"""``KerasModel.probe``: every node's output and gradients for one batch (see :class:`dnnc.backends.base.Probe`).

Eager TensorFlow under one ``GradientTape``: the node layers of
:class:`.graph.KerasGraph` are called one by one in IR order (as its direct
executor ``run`` does), in inference mode; the loss is the model's own
(:meth:`.steps.StepFunctions._losses`); one ``tape.gradient`` call gives ∂loss/∂
of every trainable variable and of every probed node's output.  The inputs are
watched, so nodes that depend on no parameter have a gradient too.

Pre-activations: a dense or convolution node whose activation has its own
layer yields the Dense/Conv layer's output, which that layer then transforms; a
node with a fused activation (``Dense(activation=…)``, ``Conv2D(activation=…)``)
is called as usual and its pre-activation is recomputed beside it with the
operations its ``call`` performs before the activation (``matmul(x, kernel)``
or ``convolution_op(x, kernel)``, then ``add(·, bias)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..base import LINEAR_THEN_ACTIVATION, Arrays, Probe, pre_activation_nodes, probe_nodes

if TYPE_CHECKING:  # pragma: no cover
    from .model import KerasModel


def _linear_pre_activation(keras, layer: Any, x: Any) -> Any:
    """What a ``Dense``'s or ``Conv1D``/``Conv2D``'s fused activation receives: the operations its ``call`` performs
    before the activation (matmul or ``convolution_op``, then the bias added; channels-last)."""
    if isinstance(layer, keras.layers.Dense):
        z = keras.ops.matmul(x, layer.kernel)
        return z if layer.bias is None else keras.ops.add(z, layer.bias)
    z = layer.convolution_op(x, layer.kernel)
    if layer.bias is None:
        return z
    return keras.ops.add(z, keras.ops.reshape(layer.bias, (1,) * (layer.rank + 1) + (layer.filters,)))


def _numpy(tensor: Any, like: Any) -> np.ndarray:
    if tensor is None:
        return np.zeros(tuple(like.shape), np.float32)
    return np.array(tensor.numpy(), dtype=np.float32, copy=True)


def probe(model: "KerasModel", inputs: Arrays, targets: Arrays, *, nodes: Sequence[str] | None = None,
          pre_activations: bool = False) -> Probe:
    import keras
    import tensorflow as tf

    ir = model.ir
    names = probe_nodes(ir, nodes)
    pre_nodes = set(pre_activation_nodes(ir, names)) if pre_activations else set()
    batch = model._batch(inputs, targets)
    graph = model.graph
    trainable = [v for _, v in model._trainable]
    pre: dict[str, Any] = {}
    with tf.GradientTape() as tape:
        values: dict[str, Any] = {name: tf.convert_to_tensor(x) for name, x in batch["inputs"].items()}
        for tensor in values.values():
            tape.watch(tensor)
        for node in ir.nodes:
            if node.op == "input":
                continue
            layers = graph.nodes[node.name]
            xs = [values[i] for i in node.inputs]
            if node.name in pre_nodes and node.op in LINEAR_THEN_ACTIVATION:
                main = layers.main
                if len(layers.layers) == 2:  # Dense / Conv (linear), then the activation's own layer
                    pre[node.name] = main(xs[0])
                    values[node.name] = layers.layers[1](pre[node.name])
                    continue
                pre[node.name] = _linear_pre_activation(keras, main, xs[0])
            elif node.name in pre_nodes:
                pre[node.name] = xs[0]
            values[node.name] = layers.call(xs, False)
        outputs = [values[name] for name in graph.output_names]
        total, losses = model._steps._losses(outputs, batch)
    watched = [values[name] for name in names]
    grads = tape.gradient(total, [*trainable, *watched])
    n_params = len(trainable)
    return Probe(
        losses=model._loss_values(losses),
        activations={name: _numpy(values[name], values[name]) for name in names},
        output_gradients={name: _numpy(g, values[name]) for name, g in zip(names, grads[n_params:])},
        parameter_gradients={key: _numpy(g, var) for (key, var), g in zip(model._trainable, grads[:n_params])},
        pre_activations={name: _numpy(pre[name], pre[name]) for name in names if name in pre},
    )
