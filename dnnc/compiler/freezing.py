"""Frozen nodes: which nodes of an IR are trained, and the IR with some of them frozen or unfrozen.

A node is frozen when its ``trainable`` flag is false (``trainable = false`` on
the layer in the spec).  Then every parameter of the node has ``trainable =
False`` — no gradient, no optimizer slot, counted as non-trainable — and ops
whose behaviour depends on it follow their
:attr:`~dnnc.compiler.ops.OpDef.trainability` rule (a frozen batch norm has
``inference_mode = true``: it normalises with its moving statistics and never
updates them, as Keras 3 does).

:func:`set_trainable` is the one rule for changing the flag of a node, used by
the lowering (a layer's ``trainable`` key) and, through :func:`with_trainable`,
by the runner when a callback unfreezes layers during training (two-phase
fine-tuning).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .ir import ModelIR, NodeIR
from .ops import OpDef, ParamSpec, default_op_table
from .verify import verify


def frozen_nodes(ir: ModelIR) -> list[str]:
    """The names of the frozen nodes, in graph order."""
    return [n.name for n in ir.nodes if not n.trainable]


def set_trainable(node: NodeIR, trainable: bool, op: OpDef, specs: Sequence[ParamSpec]) -> NodeIR:
    """`node` with its ``trainable`` flag set: each parameter is trained when its op says so (`specs`, the op's
    parameter rule for this node) and the node is trainable; trainability-dependent attributes follow."""
    attrs = op.trainability(node.attrs, trainable) if op.trainability is not None else node.attrs
    by_name = {s.name: s for s in specs}
    params = tuple(p.model_copy(update={"trainable": by_name[p.name].trainable and trainable}) for p in node.params)
    return node.model_copy(update={"trainable": bool(trainable), "attrs": attrs, "params": params})


def with_trainable(ir: ModelIR, changes: Mapping[str, bool], ops: Mapping[str, OpDef] | None = None) -> ModelIR:
    """The IR with the ``trainable`` flag of each node in `changes` set (verified); KeyError for an unknown node."""
    table = default_op_table() if ops is None else ops
    unknown = sorted(set(changes) - {n.name for n in ir.nodes})
    if unknown:
        raise KeyError(f"no node named {', '.join(map(repr, unknown))}")
    shapes = {n.name: tuple(n.shape) for n in ir.nodes}
    nodes = []
    for node in ir.nodes:
        if node.name in changes and bool(changes[node.name]) != node.trainable:
            op = table[node.op]
            specs = op.param_specs(node.attrs, [shapes[i] for i in node.inputs])
            node = set_trainable(node, bool(changes[node.name]), op, specs)
        nodes.append(node)
    out = ir.model_copy(update={"nodes": tuple(nodes)})
    verify(out, table)
    return out
