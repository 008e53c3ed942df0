"""The numeric level's batches: the spec's data in the runner's order, or seeded synthetic ones.

* :func:`data_batches` — the first training batches in the runner's batch
  order (:class:`~dnnc.runner.sampling.ShuffledBatches`: epoch 0, then epoch 1,
  …) with the strict-parity dropout masks of those global steps
  (:mod:`dnnc.runner.dropout`) and the data's sample and class weights;
* :func:`epoch_end_batches` — the runner's order over the first 1.5 batches
  of training rows for two epochs: a full batch, the epoch's last partial
  batch, and again, so that the trajectory always crosses epoch ends;
* :func:`synthetic_batches` — for an IR without data (the kit's cases):
  standard-normal features, targets of each output's kind, Bernoulli keep
  masks (:func:`make_batch`), one seed per batch; the last batch of a
  trajectory is a partial one (half the rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..compiler.ir import ModelIR

if TYPE_CHECKING:  # pragma: no cover
    from ..runner.datasets.containers import Split

#: Steps of :func:`epoch_end_batches` (two epochs of a full and a partial batch).
EPOCH_END_STEPS = 4


@dataclass
class NumericBatch:
    """One batch with everything a step needs."""

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    sample_weight: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])


# ---------------------------------------------------------------------------
# the spec's data
# ---------------------------------------------------------------------------

def _train_weights(ir: ModelIR, split: "Split") -> np.ndarray | None:
    weights = split.sample_weight
    if ir.training is not None and ir.training.class_weight:
        from ..runner.data_checks import class_sample_weights

        cw = class_sample_weights(ir, split, ir.training.class_weight)
        weights = cw if weights is None else (weights * cw).astype(np.float32)
    return weights


def _batch_size(ir: ModelIR) -> int:
    return ir.training.batch_size if ir.training is not None else 32


def data_batches(ir: ModelIR, split: "Split", count: int, seed: int, *, first_step: int = 0) -> Iterator[NumericBatch]:
    """The first `count` training batches of `split` in the runner's order (epoch 0, then epoch 1, …) with the
    strict-parity dropout masks of global steps ``first_step …``."""
    from ..runner.dropout import DropoutMasks
    from ..runner.sampling import ShuffledBatches

    source = ShuffledBatches(split.n, _batch_size(ir), seed)
    masks = DropoutMasks(ir, seed)
    weights = _train_weights(ir, split)
    step, epoch = 0, 0
    while step < count:
        for index in source.batches(epoch):
            if step >= count:
                return
            part = split.take(index)
            yield NumericBatch(dict(part.inputs), dict(part.targets), None if weights is None else weights[index],
                               masks.for_step(first_step + step, len(index)) if masks else {})
            step += 1
        epoch += 1


def epoch_end_batches(ir: ModelIR, split: "Split", seed: int, *, first_step: int = 0) -> list[NumericBatch]:
    """Two epochs of the runner's order over the first ``1.5·batch_size`` training rows (fewer when the split is
    smaller): every other batch is an epoch's last, partial batch."""
    rows = min(split.n, _batch_size(ir) + max(_batch_size(ir) // 2, 1))
    subset = split.take(slice(0, rows))
    return list(data_batches(ir, subset, EPOCH_END_STEPS, seed, first_step=first_step))


# ---------------------------------------------------------------------------
# synthetic batches
# ---------------------------------------------------------------------------

def make_inputs(ir: ModelIR, batch_size: int = 8, seed: int = 0, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Standard-normal float32 features (times `scale`) for every model input; uniform int64 ids for a token
    input (:func:`dnnc.compiler.embedding_ops.token_inputs`)."""
    from ..compiler.embedding_ops import token_inputs

    rng = np.random.default_rng([seed, 1])
    tokens = token_inputs(ir)
    return {name: rng.integers(0, tokens[name], size=(batch_size, *ir.node(name).shape), dtype=np.int64)
            if name in tokens else (rng.standard_normal((batch_size, *ir.node(name).shape)) * scale).astype(np.float32)
            for name in ir.inputs}


def make_targets(ir: ModelIR, batch_size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Targets matching each output's target kind: sparse int64 labels, one-hot, 0/1, or normal values."""
    rng = np.random.default_rng([seed, 2])
    targets: dict[str, np.ndarray] = {}
    for out in ir.outputs:
        shape = (batch_size, *out.shape)
        if out.target == "sparse":
            targets[out.name] = rng.integers(0, out.shape[-1], size=shape[:-1]).astype(np.int64)
        elif out.target == "one_hot":
            labels = rng.integers(0, out.shape[-1], size=shape[:-1])
            targets[out.name] = np.eye(out.shape[-1], dtype=np.float32)[labels]
        elif out.target == "binary":
            targets[out.name] = rng.integers(0, 2, size=shape).astype(np.float32)
        else:
            targets[out.name] = rng.standard_normal(shape).astype(np.float32)
    return targets


def make_dropout_masks(ir: ModelIR, batch_size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """A 0/1 float32 keep mask (keep probability 1 − rate) for every dropout node and recurrent dropout site."""
    from ..compiler.dropout_sites import dropout_sites

    rng = np.random.default_rng([seed, 3])
    return {key: (rng.random((batch_size, *shape)) >= rate).astype(np.float32)
            for key, (shape, rate) in dropout_sites(ir).items()}


def make_batch(ir: ModelIR, batch_size: int = 8, seed: int = 0) -> tuple[dict, dict, dict]:
    """(inputs, targets, dropout masks) for one batch."""
    return (make_inputs(ir, batch_size, seed), make_targets(ir, batch_size, seed),
            make_dropout_masks(ir, batch_size, seed))


def synthetic_batches(ir: ModelIR, count: int, seed: int, batch_size: int = 8, *,
                      partial_last: bool = False) -> list[NumericBatch]:
    """`count` seeded batches (one seed per batch); with `partial_last`, the last one has half the rows."""
    out = []
    for i in range(count):
        rows = max(batch_size // 2, 1) if partial_last and i == count - 1 and count > 1 else batch_size
        inputs, targets, masks = make_batch(ir, rows, seed + i)
        out.append(NumericBatch(inputs, targets, None, masks))
    return out
