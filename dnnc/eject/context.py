"""What every emitter of an ejected module shares: the IR, Python names, the spec place of a node,
the support snippets and imports the module needs.

An emitter (one per IR op per framework, see :mod:`.torch_emitters` and
:mod:`.keras_emitters`) reads its node, asks the context for variable names
(:meth:`EjectContext.var`), records the snippets it relies on
(:meth:`EjectContext.need`) and returns source lines; the imports follow from
the names the generated code uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..compiler.ir import ModelIR, NodeIR
from ..numerics.optimizers import HYPERPARAMETERS
from .code import identifier


#: Optimizer type → its hyperparameters besides the learning rate, weight decay and clipping.
OPTIMIZER_HYPERPARAMETERS = HYPERPARAMETERS


class EjectError(Exception):
    """The IR uses something this ejector cannot write out (an op without an emitter, an unsupported value)."""


@dataclass
class EjectContext:
    """Names and needs of one module being generated."""

    ir: ModelIR
    framework: str
    snippets: list[str] = field(default_factory=list)
    layer_names: set[str] = field(default_factory=set)
    _names: dict[str, str] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=lambda: {
        "model", "x", "y", "self", "np", "torch", "nn", "F", "keras", "layers", "math", "inputs", "outputs",
        "targets", "weights", "loss", "losses", "z", "logits", "h0", "states", "yf", "yb", "tensors", "dtypes"})

    def var(self, node: str) -> str:
        """The Python name of a node's value (and, in torch, of its module attribute)."""
        if node not in self._names:
            self._names[node] = identifier(node, self._taken)
        return self._names[node]

    def need(self, *names: str) -> None:
        """Ask for support snippets (in order; each at most once)."""
        for name in names:
            if name not in self.snippets:
                self.snippets.append(name)

    def input_var(self, node: NodeIR, i: int = 0) -> str:
        return self.var(node.inputs[i])

    def input_shape(self, node: NodeIR, i: int = 0) -> tuple[int, ...]:
        return tuple(self.ir.node(node.inputs[i]).shape)


def spec_place(node: NodeIR) -> str:
    """Where a node comes from in the spec: ``model.layers[3]``, ``model.inputs[0]``…"""
    text = ""
    for part in node.spec_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(compiler)"


def activation_text(act: Any) -> str:
    """``relu``, ``leaky_relu(negative_slope=0.01)``…"""
    extra = ", ".join(f"{k}={v!r}" for k, v in act.model_dump().items() if k != "type")
    return f"{act.type}({extra})" if extra else act.type


def describe(node: NodeIR) -> str:
    """A short description of a node for its comment."""
    a = node.attrs
    if node.op == "dense":
        act = activation_text(a.activation)
        return f"dense, {a.units} unit{'' if a.units == 1 else 's'}, {act}" + ("" if a.use_bias else ", no bias")
    if node.op == "maxout":
        return f"maxout, {a.units} units of {a.pieces} pieces"
    if node.op == "activation":
        return activation_text(a.activation)
    if node.op == "batch_norm":
        return f"batch_norm, momentum {a.momentum}, epsilon {a.epsilon}"
    if node.op == "dropout":
        return f"dropout, rate {a.rate}"
    if node.op == "input":
        return f"input of shape {list(node.shape)}"
    if node.op in ("conv1d", "conv2d"):
        text = (f"{node.op}, {a.filters} filters, kernel {_sizes(a.kernel_size)}, strides {_sizes(a.strides)}, "
                f"padding {a.padding}")
        text += f", dilation {_sizes(a.dilation_rate)}" if max(a.dilation_rate) > 1 else ""
        text += f", {a.groups} groups" if a.groups > 1 else ""
        return text + f", {activation_text(a.activation)}" + ("" if a.use_bias else ", no bias")
    if node.op.endswith(("_pool1d", "_pool2d")) and not node.op.startswith("global"):
        return f"{node.op}, pool {_sizes(a.pool_size)}, strides {_sizes(a.strides)}, padding {a.padding}"
    if node.op == "layer_norm":
        return f"layer_norm, epsilon {a.epsilon}" + ("" if a.center else ", no beta") + ("" if a.scale else ", no gamma")
    if node.op == "zero_padding2d":
        (top, bottom), (left, right) = a.padding
        return f"zero_padding2d, rows +{top}/+{bottom}, columns +{left}/+{right}"
    if node.op == "upsampling2d":
        return f"upsampling2d, size {_sizes(a.size)}, {a.interpolation}"
    if node.op == "spatial_dropout2d":
        return f"spatial_dropout2d, rate {a.rate}"
    return node.op


def _sizes(values: Any) -> str:
    """``3x3``, ``5``: a window or stride per spatial axis."""
    return "x".join(str(int(v)) for v in values)


def node_comment(node: NodeIR) -> str:
    """``model.layers[3]: dense_1 (dense, 128 units, linear)``: the node's place in the spec, its name, what it is."""
    text = describe(node)
    return f"{spec_place(node)}: {node.name}" + ("" if text == node.name else f" ({text})")
