"""Which IR nodes `dnnc inspect` shows, in IR order, titled "1-layer", "2-layer", … as in the lecture.

Every node that computes something is a layer: dense, maxout, batch norm,
activation layers and the element-wise merges.  Nodes that only move values
are left out: inputs, flatten, reshape, concatenate, and dropout (the identity
in inference mode, which is how the probe runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..compiler.ir import ModelIR, NodeIR

#: Ops that are not shown (their output is another node's values, rearranged or unchanged).
LAYOUT_OPS = frozenset({"input", "flatten", "reshape", "concatenate", "dropout", "spatial_dropout2d",
                        "zero_padding2d", "upsampling2d"})

#: Activations with a lower and an upper bound (the saturation rule of :mod:`.stats` applies).
BOUNDS: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
}

#: ReLU-like activations: exactly 0 for every input ≤ 0 (the zero and dead-unit counts of :mod:`.stats` apply).
ZERO_CLAMPING = frozenset({"relu", "relu6"})


@dataclass(frozen=True)
class Layer:
    """One shown node."""

    index: int
    """1-based position among the shown nodes."""
    node: str
    op: str
    activation: str | None
    """The activation function's type for dense and activation nodes, else None."""
    bounds: tuple[float, float] | None
    """(lower, upper) for a bounded activation (:data:`BOUNDS`), else None."""
    clamps_at_zero: bool
    """True for a ReLU-like activation (:data:`ZERO_CLAMPING`, or leaky_relu with negative_slope 0)."""
    output: str | None
    """The model output's head (e.g. ``"softmax"``) when the node is a model output, else None."""

    @property
    def title(self) -> str:
        return f"{self.index}-layer"

    @property
    def label(self) -> str:
        """``dense_1 (sigmoid)``; a model output also names its head (its values are the logits)."""
        kind = self.activation if self.op == "activation" else (
            self.op if self.activation in (None, "linear") else f"{self.op}, {self.activation}")
        if self.output is not None:
            kind += ", output" if self.output == "linear" else f", output logits: {self.output} head"
        return f"{self.node} ({kind})"

    @property
    def group(self) -> str:
        """Panels of one group share their histogram range: the activation's type, or the op."""
        return self.activation if self.activation not in (None, "linear") else self.op


def activation_of(node: NodeIR):
    """The typed activation of a dense or activation node, else None."""
    return node.attrs.activation if node.op in ("dense", "activation") else None


def inspected_layers(ir: ModelIR) -> list[Layer]:
    """The shown nodes, in IR order."""
    heads = {o.name: o.head for o in ir.outputs}
    layers: list[Layer] = []
    for node in ir.nodes:
        if node.op in LAYOUT_OPS:
            continue
        act = activation_of(node)
        kind = None if act is None else act.type
        clamps = kind in ZERO_CLAMPING or (kind == "leaky_relu" and act.negative_slope == 0.0)
        layers.append(Layer(index=len(layers) + 1, node=node.name, op=node.op, activation=kind,
                            bounds=BOUNDS.get(kind), clamps_at_zero=clamps, output=heads.get(node.name)))
    return layers
