"""Every keep mask dnnc draws for a training step under strict parity: dropout nodes and recurrent dropout.

:func:`dropout_sites` is the one list the runner (:mod:`dnnc.runner.dropout`),
the batch checks of every backend, the conformance batches and the reference
read: key → (mask shape without the batch axis, rate).  A node with a keep
mask (:func:`dnnc.compiler.ops.dropout_nodes`: dropout, spatial dropout) is
keyed by its name with its op's mask shape; a recurrent node's keys and shapes
are :func:`dnnc.compiler.recurrent_ops.recurrent_mask_sites`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .recurrent_ops import recurrent_mask_sites

if TYPE_CHECKING:  # pragma: no cover
    from .ir import ModelIR


def dropout_sites(ir: "ModelIR") -> dict[str, tuple[tuple[int, ...], float]]:
    """Mask key → (shape without the batch axis, drop rate), in node order."""
    from .ops import dropout_nodes

    masked = dropout_nodes(ir)
    sites: dict[str, tuple[tuple[int, ...], float]] = {}
    for node in ir.nodes:
        if node.name in masked:
            sites[node.name] = masked[node.name]
        elif node.inputs:
            features = int(ir.node(node.inputs[0]).shape[-1])
            for key, shape, rate in recurrent_mask_sites(node, features):
                sites[key] = (tuple(shape), float(rate))
    return sites
