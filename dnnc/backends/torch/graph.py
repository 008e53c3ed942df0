"""The IR graph as one ``torch.nn.Module``, run in topological order.

:class:`GraphModule` holds one module per IR node (``node_modules``, keyed by a
sanitised name since torch forbids ``.`` in module names), built by the
converter table of :mod:`.converters`, and executes a precomputed plan, so a
call costs one Python loop over the nodes and nothing else.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch
from torch import nn

from ...compiler.ir import ModelIR
from ...compiler.dropout_sites import dropout_sites
from .converters import CONVERTERS, PARAM_BINDINGS
from .layout import torch_shape
from ...compiler.ops import dropout_nodes


def sanitize(name: str, taken: set[str]) -> str:
    """A module name torch accepts (no '.', not empty, unique) derived from a node name."""
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
    masks (and recurrent dropout sites, ``<node>/dropout`` …, to their masks); without one, the module draws from the
    model's generator.
    """

    def __init__(self, ir: ModelIR, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.ir_name = ir.name
        self.node_modules = nn.ModuleDict()
        #: node name → key in ``node_modules``
        self.module_names: dict[str, str] = {}
        taken: set[str] = set()
        index = {n.name: i for i, n in enumerate(ir.nodes)}
        recurrent_dropout = {key.partition("/")[0] for key in dropout_sites(ir) if "/" in key}
        input_pos = {name: i for i, name in enumerate(ir.inputs)}
        plan: list[tuple[nn.Module, tuple[int, ...], int, int, str, int]] = []
        masked = dropout_nodes(ir)  # the nodes that take their own keep mask (dropout, spatial dropout)
        for node in ir.nodes:
            build = CONVERTERS.get(node.op)
            if build is None:
                raise ValueError(f"the torch backend has no converter for op {node.op!r} (node {node.name!r}); "
                                 f"supported: {', '.join(sorted(CONVERTERS))}")
            module = build(node, ir, generator)
            key = sanitize(node.name, taken)
            self.node_modules[key] = module
            self.module_names[node.name] = key
            slots = tuple(index[i] for i in node.inputs)
            # (module, input slots, output slot, model-input position or -1, node name, is dropout)
            # masks: 1 a dropout node (its own mask), 2 a recurrent node with dropout sites (every mask), else 0
            takes = 1 if node.name in masked else 2 if node.name in recurrent_dropout else 0
            plan.append((module, slots, index[node.name], input_pos.get(node.name, -1), node.name, takes))
        self._plan = plan
        #: dropout node → its keep mask's shape without the batch axis
        self._mask_shapes = {name: tuple(shape) for name, (shape, _) in masked.items()}
        self._n_values = len(ir.nodes)
        self._outputs = tuple(index[o.name] for o in ir.outputs)

    def module_for(self, node_name: str) -> nn.Module:
        """The module of an IR node."""
        return self.node_modules[self.module_names[node_name]]

    def forward(self, *inputs: torch.Tensor, dropout_masks: Mapping[str, torch.Tensor] | None = None):
        values: list[Any] = [None] * self._n_values
        for module, slots, out, pos, name, takes in self._plan:
            if pos >= 0:
                values[out] = inputs[pos]
            elif takes == 1:
                values[out] = module(values[slots[0]], dropout_masks.get(name) if dropout_masks else None)
            elif takes == 2:
                values[out] = module(values[slots[0]], dropout_masks)
            else:
                values[out] = module(*[values[s] for s in slots])
        return tuple(values[o] for o in self._outputs)

    def draw_masks(self, batch: int, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
        """Every keep mask a training step of `batch` rows draws from the model's generator, drawn now in the
        order :meth:`forward` would draw them (so the generator ends where that step leaves it): passed back as
        ``dropout_masks``, the step computes what it computes drawing its own. A compiled step uses this (the
        compiled code cannot draw from a ``torch.Generator``)."""
        masks: dict[str, torch.Tensor] = {}
        for module, _, _, _, name, takes in self._plan:
            if takes == 1 and module.draws():
                masks[name] = module.draw_mask((batch, *self._mask_shapes[name]), dtype, device)
            elif takes == 2:
                masks.update(module.draw_masks(batch, dtype, device))
        return masks

    def extra_repr(self) -> str:
        return f"model={self.ir_name!r}"


def bind_weights(graph: GraphModule, ir: ModelIR) -> dict[str, tuple[torch.Tensor, bool]]:
    """Canonical key ``node/param`` → (the torch tensor holding it, whether it is stored in torch's kernel layout, :mod:`.layout`)."""
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
        expected = torch_shape(param.shape) if binding[1] else tuple(param.shape)
        if tuple(obj.shape) != expected:
            raise ValueError(f"{key}: the torch tensor has shape {tuple(obj.shape)}, expected {expected}")
        bound[key] = (obj, binding[1])
    return bound
