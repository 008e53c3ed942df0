"""ONNX export of a torch model: ``torch.onnx.export`` (the TorchScript exporter) of the inference graph.

The graph module returns the logits; a thin wrapper applies the output heads
(softmax/sigmoid) unless the logits are asked for.  The batch axis of every
input and output is dynamic (``batch``).  The TorchScript exporter
(``dynamo=False``) is used because it exports these graphs in milliseconds
(the torch.export-based one takes over a second per model, see docs/export.md)
and produces the same ONNX operators for them.

torch 2.13's TorchScript symbolic of ``aten::movedim`` writes a negative source
dimension into the ``Transpose`` permutation as it is (``movedim(-1, 1)`` of the
channels-last convolutions becomes ``perm = [0, -1, 1, 2]``, which ONNX refuses,
and the peephole pass that fuses two transposes turns it into garbage such as
``[0, 49, 2, 3]``); :func:`_movedim` normalises the dimensions.  Its symbolic of
``aten::avg_pool2d`` drops ``divisor_override`` without a word (the window sums
of the average pooling over real cells became means); :func:`_avg_pool2d`
writes ``AveragePool`` times area / divisor.  Both are registered for the
duration of an export only.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from ...compiler.ir import ModelIR

EXPORTER = f"torch.onnx (TorchScript exporter, torch {torch.__version__})"
_HEADS = {"softmax": lambda z: torch.softmax(z, dim=-1), "sigmoid": torch.sigmoid, "linear": lambda z: z}


@torch.onnx.symbolic_helper.parse_args("v", "t", "t")
def _movedim(g, x, source, destination):
    """``Transpose`` with the permutation of ``x.movedim(source, destination)``, negative dimensions counted
    from the end (as torch counts them)."""
    rank = torch.onnx.symbolic_helper._get_tensor_rank(x)
    src = [int(d) % rank for d in source.view(-1).tolist()]
    dst = [int(d) % rank for d in destination.view(-1).tolist()]
    perm: list[int | None] = [None] * rank
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(d for d in range(rank) if d not in src)
    return g.op("Transpose", x, perm_i=[next(rest) if p is None else p for p in perm])


@torch.onnx.symbolic_helper.parse_args("v", "is", "is", "is", "i", "i", "i")
def _avg_pool2d(g, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """``AveragePool``; with ``divisor_override`` d, the window sums divided by d: the mean over the whole
    window (padding counted) times area / d."""
    kernel = list(kernel_size) * (2 // len(kernel_size))
    strides = list(stride) * (2 // len(stride)) if stride else kernel
    pads = list(padding) * (4 // len(padding))
    if divisor_override is not None and ceil_mode:
        return torch.onnx.symbolic_helper._unimplemented("avg_pool2d", "divisor_override with ceil_mode", x)
    y = g.op("AveragePool", x, ceil_mode_i=ceil_mode, count_include_pad_i=1 if divisor_override else count_include_pad,
             kernel_shape_i=kernel, pads_i=pads, strides_i=strides)
    if divisor_override is None:
        return y
    scale = torch.tensor(kernel[0] * kernel[1] / divisor_override, dtype=torch.float32)
    return g.op("Mul", y, g.op("Constant", value_t=scale))


#: aten op → the symbolic used instead of torch's own while exporting
_FIXED_SYMBOLICS = {"aten::movedim": _movedim, "aten::avg_pool2d": _avg_pool2d}


@contextmanager
def _fixed_symbolics(opset: int) -> Iterator[None]:
    for name, fn in _FIXED_SYMBOLICS.items():
        torch.onnx.register_custom_op_symbolic(name, fn, opset)
    try:
        yield
    finally:
        for name in _FIXED_SYMBOLICS:
            torch.onnx.unregister_custom_op_symbolic(name, opset)


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
    with warnings.catch_warnings(), _fixed_symbolics(opset):
        warnings.simplefilter("ignore")  # the deprecation notice of the TorchScript exporter
        torch.onnx.export(wrapper, examples, str(path), input_names=names_in, output_names=names_out,
                          dynamic_axes={name: {0: "batch"} for name in names_in + names_out},
                          opset_version=opset, dynamo=False)
    return EXPORTER
