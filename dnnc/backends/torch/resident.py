"""The torch backend's resident session (:mod:`dnnc.backends.resident`).

Each bound split is held as tensors on the model's device (on the CPU, views of
the runner's NumPy arrays: nothing is copied).  A step gathers its rows with
``index_select``, runs :meth:`.model.TorchModel.train_tensors` — the very code of
``train_step`` — and keeps, on the device, its losses (float32, one per loss key)
and its number of correct predictions for each accuracy.  After the last step
of the call both are stacked and copied to the host once, where they are added
to the float64 accumulator in step order: ``float64(loss)·n`` for each loss
key, the count for each accuracy (the very roundings of adding them on the
device, step by step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..base import Arrays
from ..resident import MetricPlan, bound_targets
from .model import _F32, _I64, TorchModel, as_tensor


class _Split:
    """One split's tensors on the device."""

    def __init__(self, inputs: list[torch.Tensor], targets: dict[str, torch.Tensor],
                 sample_weight: torch.Tensor | None) -> None:
        self.inputs = inputs
        self.targets = targets
        self.sample_weight = sample_weight


class TorchSession:
    """Resident training of one :class:`~.model.TorchModel` (see the module docstring)."""

    def __init__(self, model: TorchModel, plan: MetricPlan) -> None:
        self.model = model
        self.plan = plan
        self._device = model._device
        self._splits: dict[str, _Split] = {}
        self._values = np.zeros(plan.size, dtype=np.float64)
        self._n_losses = len(plan.loss_keys)
        ir = model.ir
        self._target_dtypes = {out.name: (_I64 if out.target == "sparse" else _F32) for out in ir.outputs}
        self._loss_targets = [out.name for _, out, _ in model._loss_outputs]

    # -- data ------------------------------------------------------------------
    def bind(self, split: str, inputs: Arrays, targets: Arrays, sample_weight: np.ndarray | None) -> None:
        model, device = self.model, self._device
        tensors = model._input_tensors(inputs)
        model._checks.targets(targets)  # the same checks (and messages) as a step's
        names = bound_targets(self.plan, self._loss_targets, targets)
        target_tensors = {name: as_tensor(targets[name], self._target_dtypes[name], device) for name in names}
        sw = None if sample_weight is None else as_tensor(sample_weight, _F32, device)
        self._splits[split] = _Split(tensors, target_tensors, sw)

    def _rows(self, data: _Split, index: np.ndarray):
        idx = torch.from_numpy(np.ascontiguousarray(index, dtype=np.int64)).to(self._device)
        inputs = [x.index_select(0, idx) for x in data.inputs]
        targets = {name: t.index_select(0, idx) for name, t in data.targets.items()}
        sw = None if data.sample_weight is None else data.sample_weight.index_select(0, idx)
        return inputs, targets, sw

    # -- sums --------------------------------------------------------------------
    def _step_values(self, total: torch.Tensor, per_output: list[torch.Tensor], outs,
                     targets: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(this batch's losses (float32, one per loss key), its correct counts (int64, one per metric) or None)."""
        losses = torch.stack([total.detach(), *(p.detach() for p in per_output)])[: self._n_losses]
        hits = []
        for metric in self.plan.metrics:
            logits = outs[metric.output].detach()
            target = targets[metric.output_name]
            if metric.kind == "sparse_categorical_accuracy":
                hit = logits.argmax(dim=-1) == target.reshape(-1)
            elif metric.kind == "categorical_accuracy":
                hit = logits.argmax(dim=-1) == target.argmax(dim=-1)
            else:  # binary accuracy of one value per sample, on the logit in float64
                predicted = (logits.double() > metric.threshold).reshape(-1).to(target.dtype)
                hit = predicted == target.reshape(-1)
            hits.append(hit.sum())
        return losses, (torch.stack(hits) if hits else None)

    def _accumulate(self, values: np.ndarray, losses: list[torch.Tensor], hits: list[torch.Tensor | None],
                    sizes: list[int]) -> np.ndarray:
        """Add the steps' sums to `values` in step order (one copy to the host); the losses, float64, (K, keys)."""
        rows = torch.stack(losses).cpu().numpy().astype(np.float64)
        counts = torch.stack(hits).cpu().numpy().astype(np.float64) if self.plan.metrics else None
        n = self._n_losses
        for k, size in enumerate(sizes):
            values[:n] += rows[k] * size
            if counts is not None:
                values[n:] += counts[k]
        return rows

    # -- the protocol --------------------------------------------------------------------
    def train_steps(self, split: str, indices: Sequence[np.ndarray], learning_rates: Sequence[float],
                    dropout_masks: Sequence[Mapping[str, np.ndarray]] | None = None) -> np.ndarray:
        model, data = self.model, self._splits[split]
        losses, hits = [], []
        for k, index in enumerate(indices):
            inputs, targets, sw = self._rows(data, index)
            masks = None if dropout_masks is None else model._mask_tensors(dropout_masks[k])
            loss_targets = [targets[name] for name in self._loss_targets]
            total, per_output, outs = model.train_tensors(inputs, loss_targets, sw, masks, learning_rates[k])
            step_losses, step_hits = self._step_values(total, per_output, outs, targets)
            losses.append(step_losses)
            hits.append(step_hits)
        return self._accumulate(self._values, losses, hits, [int(index.shape[0]) for index in indices])

    def evaluate(self, split: str, indices: Sequence[np.ndarray]) -> np.ndarray:
        model, data = self.model, self._splits[split]
        values = np.zeros(self.plan.size, dtype=np.float64)
        if not len(indices):
            return values
        losses, hits = [], []
        model._set_mode(False)
        with torch.no_grad():
            for index in indices:
                inputs, targets, sw = self._rows(data, index)
                outs = model.graph(*inputs, dropout_masks=None)
                total, per_output = model._loss_of_tensors(outs, [targets[n] for n in self._loss_targets], sw)
                step_losses, step_hits = self._step_values(total, per_output, outs, targets)
                losses.append(step_losses)
                hits.append(step_hits)
        self._accumulate(values, losses, hits, [int(index.shape[0]) for index in indices])
        return values

    def metric_values(self) -> np.ndarray:
        return self._values.copy()

    def set_metric_values(self, values: np.ndarray) -> None:
        self._values = np.asarray(values, dtype=np.float64).copy()
