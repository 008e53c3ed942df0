"""The IR graph as one ``torch.nn.Module``: one converter per op, run in topological order.

:data:`CONVERTERS` maps each IR op to a function building its module; its keys
are the backend's ``supported_ops``.  :class:`GraphModule` holds one module per
IR node (``node_modules``, keyed by a sanitised name since torch forbids ``.``
in module names) and executes a precomputed plan, so a call costs one Python
loop over the nodes and nothing else.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ...compiler.ir import ModelIR, NodeIR
from . import modules as M

Converter = Callable[[NodeIR, ModelIR, "torch.Generator"], nn.Module]


def _in_features(node: NodeIR, ir: ModelIR) -> int:
    return int(ir.node(node.inputs[0]).shape[-1])


def _dense(node: NodeIR, ir: ModelIR, gen: torch.Generator) -> nn.Module:
    a = node.attrs
    return M.Dense(_in_features(node, ir), int(a["units"]), bool(a["use_bias"]), a["activation"])


def _maxout(node: NodeIR, ir: ModelIR, gen: torch.Generator) -> nn.Module:
    a = node.attrs
    return M.Maxout(_in_features(node, ir), int(a["units"]), int(a["pieces"]), bool(a["use_bias"]))


def _batch_norm(node: NodeIR, ir: ModelIR, gen: torch.Generator) -> nn.Module:
    a = node.attrs
    if a.get("axis", -1) not in (-1, len(node.shape)):
        raise ValueError(f"batch_norm {node.name!r}: only the last axis is supported (received axis={a['axis']})")
    return M.KerasBatchNorm(int(node.shape[-1]), a["momentum"], a["epsilon"], bool(a["center"]), bool(a["scale"]))


def _dropout(node: NodeIR, ir: ModelIR, gen: torch.Generator) -> nn.Module:
    return M.Dropout(node.attrs["rate"], gen)


def _activation(node: NodeIR, ir: ModelIR, gen: torch.Generator) -> nn.Module:
    return M.Activation(node.attrs["activation"])


def _merge(node: NodeIR, ir: ModelIR, gen: torch.Generator) -> nn.Module:
    return M.Merge(node.op)


CONVERTERS: dict[str, Converter] = {
    "input": lambda node, ir, gen: M.Identity(),
    "dense": _dense,
    "maxout": _maxout,
    "batch_norm": _batch_norm,
    "dropout": _dropout,
    "activation": _activation,
    "flatten": lambda node, ir, gen: M.Flatten(),
    "reshape": lambda node, ir, gen: M.Reshape(tuple(node.attrs["shape"])),
    "concatenate": lambda node, ir, gen: M.Concatenate(int(node.attrs["axis"])),
    **{op: _merge for op in M.MERGES},
}
"""IR op → module builder. The keys are the torch backend's supported ops."""


def sanitize(name: str, taken: set[str]) -> str:
    """A module name torch accepts (no '.', not empty, not clashing) derived from a node name."""
    base = re.sub(r"[^0-9A-Za-z_]", "_", name) or "node"
    if base[0].isdigit():
        base = "n_" + base
    candidate, i = base, 1
    while candidate in taken:
        candidate, i = f"{base}_{i}", i + 1
    taken.add(candidate)
    return candidate


class GraphModule(nn.Module):
    """Executes the IR nodes in topological order.

    ``forward(*inputs, dropout_masks=None)`` takes one tensor per IR input (in
    ``ir.inputs`` order) and returns a tuple with one tensor per IR output (in
    ``ir.outputs`` order).  ``dropout_masks`` maps dropout node names to keep
    masks; nodes without a mask draw from the model's generator.
    """

    def __init__(self, ir: ModelIR, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.ir_name = ir.name
        self.node_modules = nn.ModuleDict()
        #: node name → module name in ``node_modules``
        self.module_names: dict[str, str] = {}
        taken: set[str] = set()
        index = {name: i for i, name in enumerate(n.name for n in ir.nodes)}
        input_pos = {name: i for i, name in enumerate(ir.inputs)}
        # The plan: (module, input slots, output slot, input position or -1, node name, is dropout)
        plan: list[tuple[nn.Module, tuple[int, ...], int, int, str, bool]] = []
        for node in ir.nodes:
            build = CONVERTERS.get(node.op)
            if build is None:
                raise ValueError(f"the torch backend has no converter for op {node.op!r} (node {node.name!r})")
            module = build(node, ir, generator)
            key = sanitize(node.name, taken)
            self.node_modules[key] = module
            self.module_names[node.name] = key
            slots = tuple(index[i] for i in node.inputs)
            plan.append((module, slots, index[node.name], input_pos.get(node.name, -1), node.name, node.op == "dropout"))
        self._plan = plan
        self._n_values = len(ir.nodes)
        self._outputs = tuple(index[o.name] for o in ir.outputs)

    def module_for(self, node_name: str) -> nn.Module:
        return self.node_modules[self.module_names[node_name]]

    def forward(self, *inputs: torch.Tensor, dropout_masks: Mapping[str, torch.Tensor] | None = None):
        values: list[Any] = [None] * self._n_values
        for module, slots, out, pos, name, is_dropout in self._plan:
            if pos >= 0:
                values[out] = inputs[pos]
            elif is_dropout:
                mask = dropout_masks.get(name) if dropout_masks else None
                values[out] = module(values[slots[0]], mask)
            else:
                values[out] = module(*[values[s] for s in slots])
        return tuple(values[o] for o in self._outputs)

    def extra_repr(self) -> str:
        return f"model={self.ir_name!r}"


#: op → canonical parameter name → (attribute path on the node's module, stored transposed)
PARAM_BINDINGS: dict[str, dict[str, tuple[str, bool]]] = {
    "dense": {"kernel": ("linear.weight", True), "bias": ("linear.bias", False)},
    "maxout": {"kernel": ("linear.weight", True), "bias": ("linear.bias", False)},
    "batch_norm": {"gamma": ("gamma", False), "beta": ("beta", False),
                   "moving_mean": ("moving_mean", False), "moving_variance": ("moving_variance", False)},
}


def bind_weights(graph: GraphModule, ir: ModelIR) -> dict[str, tuple[torch.Tensor, bool]]:
    """Canonical key ``node/param`` → (the torch tensor holding it, whether it is stored transposed)."""
    bound: dict[str, tuple[torch.Tensor, bool]] = {}
    for key, node, param in ir.weight_specs():
        binding = PARAM_BINDINGS.get(node.op, {}).get(param.name)
        if binding is None:
            raise ValueError(f"the torch backend does not know parameter {param.name!r} of op {node.op!r} (node {node.name!r})")
        obj: Any = graph.module_for(node.name)
        for part in binding[0].split("."):
            obj = getattr(obj, part)
        if obj is None:
            raise ValueError(f"node {node.name!r} has no torch tensor for parameter {param.name!r}")
        expected = tuple(reversed(param.shape)) if binding[1] else tuple(param.shape)
        if tuple(obj.shape) != expected:
            raise ValueError(f"{key}: torch tensor has shape {tuple(obj.shape)}, expected {expected}")
        bound[key] = (obj, binding[1])
    return bound
