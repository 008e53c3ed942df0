"""The runner's side of resident training (:mod:`dnnc.backends.resident`): which path a run takes, the
chunks of steps, and the metrics read back from the backend.

:func:`open_residency` decides.  The resident path is taken when the model
offers ``resident_session``, the loop runs the steps itself (no other executor
was given) and every metric is an exact count (:meth:`MetricPlan.from_ir`);
otherwise the loop gathers batches in NumPy as before.  Either way the numbers
are the same: the same rows in the same order, the same learning rates and keep
masks, the same sums added in the same order.

Chunks (:meth:`Residency.chunks`): consecutive batches of one epoch, at most
``steps_per_execution`` of them, all of one size (the last partial batch is a
chunk of its own), never across a global step after which a mid-epoch checkpoint
may be due; one step per chunk when a callback's ``on_batch_end`` needs the model
after each step (:attr:`~dnnc.runner.callbacks.base.CallbackList.acts_on_batches`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..backends.resident import MetricPlan, ResidentSession
from ..compiler.ir import ModelIR
from .datasets.containers import Split
from .metrics import MetricSet


class Residency:
    """One run's resident session, the splits bound to it and the training sums' sample count."""

    def __init__(self, session: ResidentSession, plan: MetricPlan, steps_per_call: int) -> None:
        self.session = session
        self.plan = plan
        self.steps_per_call = max(1, int(steps_per_call))
        self.samples = 0  # training samples seen this epoch (the count of every running sum)
        self._names: dict[int, str] = {}

    def bind(self, name: str, split: Split, sample_weight: np.ndarray | None) -> None:
        self.session.bind(name, split.inputs, split.targets, sample_weight)
        self._names[id(split)] = name

    def name_of(self, split: Split) -> str | None:
        """The name `split` was bound under (None: another split, which takes the NumPy path)."""
        return self._names.get(id(split))

    def train_steps(self, chunk: Sequence[np.ndarray], rates: Sequence[float],
                    masks: Sequence[dict[str, np.ndarray]] | None) -> np.ndarray:
        """The chunk's training steps on the "train" split; each step's losses, (K, loss keys)."""
        losses = self.session.train_steps("train", chunk, rates, masks)
        self.samples += sum(int(index.shape[0]) for index in chunk)
        return losses

    # -- training sums -------------------------------------------------------------
    def reset(self) -> None:
        self.samples = 0
        self.session.set_metric_values(np.zeros(self.plan.size))

    def load(self, state: np.ndarray) -> None:
        """Continue from a :class:`~dnnc.runner.metrics.MetricSet` state (a mid-epoch checkpoint's)."""
        state = np.asarray(state, dtype=np.float64)
        self.samples = int(state[1]) if state.size else 0
        self.session.set_metric_values(MetricPlan.values(state))

    def sync(self, metrics: MetricSet) -> MetricSet:
        """`metrics` with the backend's training sums (one read back)."""
        metrics.load_state(self.plan.state(self.session.metric_values(), self.samples))
        return metrics

    def evaluate(self, name: str, split: Split, metrics: MetricSet, batches: Sequence[np.ndarray],
                 prefix: str) -> dict[str, float]:
        metrics.load_state(self.plan.state(self.session.evaluate(name, batches), split.n))
        return metrics.result(prefix)

    # -- chunks ------------------------------------------------------------------------
    def chunks(self, batches: Sequence[np.ndarray], first_step: int, every_steps: int | None,
               one_per_call: bool) -> Iterator[list[np.ndarray]]:
        """Consecutive runs of `batches` (the epoch's remaining ones; the first is global step `first_step`
        + 1) as the module docstring says; `every_steps`: the checkpoint interval in global steps."""
        limit = 1 if one_per_call else self.steps_per_call
        chunk: list[np.ndarray] = []
        step = first_step
        for index in batches:
            if chunk and (len(chunk) == limit or index.shape[0] != chunk[0].shape[0]):
                yield chunk
                chunk = []
            chunk.append(index)
            step += 1
            if every_steps and step % every_steps == 0:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def open_residency(model, ir: ModelIR, *, enabled: bool = True) -> Residency | None:
    """The run's :class:`Residency`, or None when the model or the metrics keep the NumPy path."""
    opener = getattr(model, "resident_session", None)
    if not enabled or opener is None or ir.training is None:
        return None
    plan = MetricPlan.from_ir(ir)
    if plan is None:
        return None
    return Residency(opener(plan), plan, ir.training.steps_per_execution)


__all__ = ["Residency", "open_residency"]
