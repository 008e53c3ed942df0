"""One converter per IR op: the table that defines what the torch backend supports.

This module does not import torch at import time (``TorchBackend.supported_ops``
is read from it while only listing backends); each converter imports
:mod:`.modules` when it runs.  A converter receives the node, the whole IR and
the model's random generator (for dropout) and returns the node's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ...compiler.ir import ModelIR, NodeIR
from ...compiler.ops import MERGE_OPS

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

Converter = Callable[[NodeIR, ModelIR, "torch.Generator | None"], "nn.Module"]



def _modules():
    from . import modules

    return modules


def _in_features(node: NodeIR, ir: ModelIR) -> int:
    return int(ir.node(node.inputs[0]).shape[-1])


def convert_input(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().Identity()


def convert_dense(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    a = node.attrs
    return _modules().Dense(_in_features(node, ir), a.units, a.use_bias, a.activation)


def convert_maxout(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    a = node.attrs
    return _modules().Maxout(_in_features(node, ir), a.units, a.pieces, a.use_bias)


def convert_batch_norm(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    a = node.attrs  # axis is −1 (the only axis the IR allows today)
    return _modules().KerasBatchNorm(int(node.shape[-1]), a.momentum, a.epsilon, a.center, a.scale, a.inference_mode)


def convert_layer_norm(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    a = node.attrs  # axis is −1 (the only axis the IR allows)
    return _modules().LayerNorm(int(node.shape[-1]), a.epsilon, a.center, a.scale)


def convert_dropout(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().Dropout(node.attrs.rate, gen)


def convert_spatial_dropout(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().SpatialDropout2D(node.attrs.rate, gen)


def convert_activation(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().Activation(node.attrs.activation)


def convert_flatten(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().Flatten()


def convert_reshape(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().Reshape(node.attrs.shape)


def convert_concatenate(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().Concatenate(node.attrs.axis)


def convert_merge(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    return _modules().Merge(node.op)


def convert_recurrent(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    from .recurrent import RECURRENT_MODULES

    return RECURRENT_MODULES[node.op](_in_features(node, ir), node.attrs, mask_prefix=f"{node.name}/", generator=gen)


def convert_embedding(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    from .recurrent import Embedding

    return Embedding(node.attrs.input_dim, node.attrs.output_dim)


def _input_shape(node: NodeIR, ir: ModelIR) -> tuple[int, ...]:
    return tuple(int(d) for d in ir.node(node.inputs[0]).shape)


def convert_conv(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    from . import spatial

    shape = _input_shape(node, ir)
    return spatial.Conv(len(shape) - 1, shape[-1], shape[:-1], node.attrs)


def convert_pool(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    from . import spatial

    shape = _input_shape(node, ir)
    return spatial.Pool(node.op.split("_")[0], len(shape) - 1, shape[:-1], node.attrs)


def convert_global_pool(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    from . import spatial

    return spatial.GlobalPool(node.op.split("_")[1])


def convert_zero_padding(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    from . import spatial

    return spatial.ZeroPadding2D(node.attrs.padding)


def convert_upsampling(node: NodeIR, ir: ModelIR, gen: Any) -> "nn.Module":
    from . import spatial

    return spatial.UpSampling2D(node.attrs.size)


CONVERTERS: dict[str, Converter] = {
    "input": convert_input,
    "dense": convert_dense,
    "maxout": convert_maxout,
    "batch_norm": convert_batch_norm,
    "layer_norm": convert_layer_norm,
    "dropout": convert_dropout,
    "activation": convert_activation,
    "flatten": convert_flatten,
    "reshape": convert_reshape,
    "concatenate": convert_concatenate,
    **{op: convert_merge for op in MERGE_OPS},
    "simple_rnn": convert_recurrent,
    "lstm": convert_recurrent,
    "gru": convert_recurrent,
    "bidirectional": convert_recurrent,
    "embedding": convert_embedding,
    **{f"conv{r}d": convert_conv for r in (1, 2)},
    **{f"{kind}_pool{r}d": convert_pool for kind in ("max", "avg") for r in (1, 2)},
    **{f"global_{kind}_pool{r}d": convert_global_pool for kind in ("max", "avg") for r in (1, 2)},
    "zero_padding2d": convert_zero_padding,
    "upsampling2d": convert_upsampling,
    "spatial_dropout2d": convert_spatial_dropout,
}
"""IR op → module builder. Its keys are ``TorchBackend.supported_ops``."""

#: op → canonical parameter name → (attribute path on the node's module, stored in torch's kernel layout:
#: :func:`.layout.to_torch`, the transpose of a dense kernel)
PARAM_BINDINGS: dict[str, dict[str, tuple[str, bool]]] = {
    "dense": {"kernel": ("linear.weight", True), "bias": ("linear.bias", False)},
    "maxout": {"kernel": ("linear.weight", True), "bias": ("linear.bias", False)},
    "conv1d": {"kernel": ("weight", True), "bias": ("bias", False)},
    "conv2d": {"kernel": ("weight", True), "bias": ("bias", False)},
    "batch_norm": {"gamma": ("gamma", False), "beta": ("beta", False),
                   "moving_mean": ("moving_mean", False), "moving_variance": ("moving_variance", False)},
    # recurrent modules hold the canonical layout; torch's is derived in their forward (see .recurrent)
    **{op: {"kernel": ("kernel", False), "recurrent_kernel": ("recurrent_kernel", False), "bias": ("bias", False)}
       for op in ("simple_rnn", "lstm", "gru")},
    "bidirectional": {f"{d}_{p}": (f"{d}_layer.{p}", False) for d in ("forward", "backward")
                      for p in ("kernel", "recurrent_kernel", "bias")},
    "embedding": {"embeddings": ("weight", False)},
    "layer_norm": {"gamma": ("gamma", False), "beta": ("beta", False)},
}
