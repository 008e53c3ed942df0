"""The ``embedding`` op and the IR's token inputs (issue 17).

A model input declared ``dtype = "int64"`` carries token ids; it may feed only
``embedding`` nodes, and an embedding reads only such an input.  The ids of a
token input must lie in ``[0, input_dim)`` of every embedding reading it
(:func:`token_inputs`); backends, the data preparation and the batch
generators all take that range from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from pydantic import Field, StrictInt

from .ops import OpAttrs, OpDef, ParamSpec, Shape

if TYPE_CHECKING:  # pragma: no cover
    from .ir import ModelIR


class EmbeddingAttrs(OpAttrs):
    input_dim: StrictInt = Field(..., gt=0, description="Vocabulary size: token ids are 0 … input_dim − 1.")
    output_dim: StrictInt = Field(..., gt=0, description="Size of each token's vector.")


def _embedding_shape(attrs: EmbeddingAttrs, shapes: Sequence[Shape]) -> Shape:
    return tuple(shapes[0]) + (attrs.output_dim,)


def _embedding_params(attrs: EmbeddingAttrs, shapes: Sequence[Shape]) -> tuple[ParamSpec, ...]:
    return (ParamSpec("embeddings", (attrs.input_dim, attrs.output_dim), True),)


EMBEDDING_OP = OpDef(
    "embedding", EmbeddingAttrs,
    "y[…, :] = embeddings[x[…], :]: each int64 token id of the input (a token input node) replaced by its row; the "
    "gradient of a row is the sum over the tokens that read it. No gradient flows to the ids.",
    _embedding_shape, params=_embedding_params,
    layout="embeddings (input_dim, output_dim): Keras's Embedding.embeddings, torch's Embedding.weight.")

#: The element types of model inputs.
INPUT_DTYPES = ("float32", "int64")


def token_inputs(ir: "ModelIR") -> dict[str, int]:
    """Token (int64) input name → the number of ids it may hold (the smallest input_dim of the embeddings
    reading it)."""
    limits: dict[str, int] = {}
    tokens = {n.name for n in ir.nodes if n.op == "input" and n.attrs.dtype == "int64"}
    for node in ir.nodes:
        if node.op == "embedding":
            for src in node.inputs:
                if src in tokens:
                    limits[src] = min(limits.get(src, node.attrs.input_dim), node.attrs.input_dim)
    return {name: limits.get(name, 1) for name in ir.inputs if name in tokens}


def dtype_problem(op: str, src_dtype: str) -> str | None:
    """Why a node of `op` cannot read an input of `src_dtype`, or None."""
    if op == "embedding" and src_dtype != "int64":
        return "an embedding reads token ids: its input must be a model input with dtype = \"int64\""
    if op != "embedding" and src_dtype == "int64":
        return "an int64 (token id) input can only feed embedding layers"
    return None


def check_token_ids(name: str, array: Any, limit: int) -> None:
    """ValueError unless `array` holds integers in [0, limit)."""
    import numpy as np

    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"input {name!r} holds token ids: it must be an integer array (received dtype {array.dtype})")
    if array.size and (int(array.min()) < 0 or int(array.max()) >= limit):
        raise ValueError(f"input {name!r}: token ids must lie in 0 … {limit - 1} (the embedding's input_dim is "
                         f"{limit}; received {int(array.min())} … {int(array.max())})")
