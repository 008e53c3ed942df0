"""ONNX export of a torch model: ``torch.onnx.export`` (the TorchScript exporter) of the inference graph.

The graph module returns the logits; a thin wrapper applies the output heads
(softmax/sigmoid) unless the logits are asked for.  The batch axis of every
input and output is dynamic (``batch``).  The TorchScript exporter
(``dynamo=False``) is used because it exports these graphs in milliseconds
(the torch.export-based one takes over a second per model, see docs/export.md)
and produces the same ONNX operators for them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ...compiler.ir import ModelIR

EXPORTER = f"torch.onnx (TorchScript exporter, torch {torch.__version__})"
_HEADS = {"softmax": lambda z: torch.softmax(z, dim=-1), "sigmoid": torch.sigmoid, "linear": lambda z: z}


class _Exported(nn.Module):
    """The graph module in inference mode with the output heads applied (or not)."""

    def __init__(self, graph: nn.Module, heads: tuple[str, ...]) -> None:
        super().__init__()
        self.graph = graph
        self.heads = heads

    def forward(self, *inputs: torch.Tensor):
        outputs = self.graph(*inputs)
        return tuple(_HEADS[head](z) for head, z in zip(self.heads, outputs))


def export_torch_onnx(graph: nn.Module, ir: ModelIR, path: Path, *, logits: bool, opset: int) -> str:
    """Write the ONNX file of `graph` (in inference mode) to `path`; return the exporter's name."""
    heads = tuple("linear" if logits else out.head for out in ir.outputs)
    examples = tuple(torch.zeros((2, *ir.node(name).shape)) for name in ir.inputs)
    names_in, names_out = list(ir.inputs), [out.name for out in ir.outputs]
    # In inference mode (the exporter puts the module back in the mode it found it in, recursively: a
    # wrapper left in training mode would switch the graph to training and its batch norms would update)
    wrapper = _Exported(graph, heads).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice of the TorchScript exporter
        torch.onnx.export(wrapper, examples, str(path), input_names=names_in, output_names=names_out,
                          dynamic_axes={name: {0: "batch"} for name in names_in + names_out},
                          opset_version=opset, dynamo=False)
    return EXPORTER
