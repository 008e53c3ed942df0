"""Strict-parity dropout masks, drawn by dnnc instead of a framework's RNG.

With ``training.strict_parity`` the runner passes, to every training step, one
keep mask per dropout node (every op with a mask shape,
:func:`dnnc.compiler.ops.dropout_nodes`): float32 0/1 of shape ``(batch, *mask_shape)``
— ``node.shape`` for ``dropout``, ``(1, 1, C)`` for ``spatial_dropout2d`` — where
``batch`` is the step's actual batch size; and the masks of recurrent dropout,
``<node>/dropout`` and ``<node>/recurrent_dropout`` of shape ``(batch, k, n)``
(:func:`dnnc.compiler.dropout_sites.dropout_sites`; their stream is keyed by
that name as a node's is by its name).  Each element is kept with
probability ``1 − rate``:

    generator = numpy.random.Generator(numpy.random.Philox(
        key=[seed, 2**63 | int.from_bytes(sha256(b"dropout/" + node_name)[:8], "little") & (2**63 − 1)],
        counter=[0, 0, global_step, 0]))
    mask = generator.random((batch, *shape), dtype=float32) >= rate

``global_step`` is the 0-based index of the optimizer step.  The counter's
third word carries the step so that the draws of one step (which advance the
low words) never reach another step's.  The backend computes
``y = x · mask / (1 − rate)``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..compiler.ir import ModelIR


def node_key(node_name: str) -> int:
    """The high key word of a dropout node's stream (top bit set: never an epoch index)."""
    digest = hashlib.sha256(b"dropout/" + node_name.encode("utf-8")).digest()
    return (1 << 63) | (int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def dropout_mask(seed: int, node_name: str, step: int, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """The keep mask of one dropout node at one global step (see the module docstring)."""
    generator = np.random.Generator(
        np.random.Philox(key=[int(seed), node_key(node_name)], counter=[0, 0, int(step), 0])
    )
    if rate <= 0.0:
        return np.ones(shape, dtype=np.float32)
    return (generator.random(shape, dtype=np.float32) >= np.float32(rate)).astype(np.float32)


class DropoutMasks:
    """Draws every dropout node's mask for a step; built once per run from the IR."""

    def __init__(self, ir: ModelIR, seed: int) -> None:
        from ..compiler.dropout_sites import dropout_sites

        self.seed = int(seed)
        self.nodes = [(key, shape, rate) for key, (shape, rate) in dropout_sites(ir).items()]

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def for_step(self, step: int, batch_size: int) -> dict[str, np.ndarray]:
        return {
            name: dropout_mask(self.seed, name, step, (batch_size, *shape), rate)
            for name, shape, rate in self.nodes
        }
