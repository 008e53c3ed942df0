"""Resident training (dnnc.backends.resident, dnnc.runner.resident): the data in the backend, several steps
per call, the metrics accumulated by the backend — and every number exactly what the NumPy path gives."""

from __future__ import annotations

import numpy as np
import pytest
from support.backends import available
from support.fakes import ir_from_toml

from dnnc.backends.resident import MetricPlan
from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner import Trainer
from dnnc.runner.api import get_backend, load_datasets
from dnnc.runner.callbacks import Callback
from dnnc.runner.datasets import Datasets
from dnnc.runner.divergence import DivergenceWatch
from dnnc.runner.resident import Residency

REAL = [name for name in ("torch", "keras") if available(name)]

SPEC = """
spec_version = 1
name = "resident"
[data]
dataset = "mnist"
divide_by = 255
validation = {{ last = 300 }}
[model]
input_shape = [784]
layers = [
  {{ type = "dense", units = 24, activation = "relu" }},
  {{ type = "batch_norm" }},
  {{ type = "dropout", rate = 0.2 }},
  {{ type = "dense", units = 10, activation = "softmax" }},
]
[training]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy", {{ type = "top_k_accuracy", k = 3 }}]
optimizer = {{ type = "adam", learning_rate = 0.003 }}
batch_size = 32
epochs = 2
strict_parity = {strict}
steps_per_execution = {k}
class_weight = {{ "0" = 2.0 }}
"""


def ir_of(k: int = 8, strict: str = "false", accuracy_only: bool = True):
    text = SPEC.format(k=k, strict=strict)
    if accuracy_only:
        text = text.replace(', { type = "top_k_accuracy", k = 3 }', "")
    return ir_from_toml(text)


@pytest.fixture(scope="module")
def small(data_dir):
    ir = ir_of()
    ds = load_datasets(ir, base_dir=None, data_dir=data_dir, download=False)
    # 1,000 rows: 31 batches of 32 and a last one of 8 per epoch
    return Datasets(train=ds.train.take(slice(0, 1000)), validation=ds.validation, test=ds.test.take(slice(0, 300)))


class Losses(Callback):
    """Every step's logs and the global step seen with them (reads only the logs)."""

    reads_only_batch_logs = True

    def __init__(self):
        self.seen = []

    def on_batch_end(self, step, logs):
        self.seen.append((step, self.context.global_step, dict(logs)))


class NeedsModel(Callback):
    """Looks at the weights after every step: the loop must run one step per call."""

    def __init__(self):
        self.first_kernels = []

    def on_batch_end(self, step, logs):
        self.first_kernels.append(next(iter(self.model.get_weights().values())).copy())


def fit(name, ir, ds, *, resident, callbacks=()):
    model = get_backend(name, ir).build(ir, initial_weights(ir, 0))
    trainer = Trainer(model, ir, ds, resident=resident, callbacks=[DivergenceWatch(), *callbacks])
    assert (trainer.residency is not None) == resident
    history = trainer.fit()
    return history, model.get_weights(), trainer


def assert_same(a, b):
    (ha, wa, _), (hb, wb, _) = a, b
    assert ha.history == hb.history and ha.test == hb.test
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("k, strict", [(1, "false"), (8, "false"), (64, "true")])
def test_resident_training_gives_the_numpy_paths_numbers_bit_for_bit(name, k, strict, small):
    """History (losses, accuracies, validation), test metrics and final weights identical, for 1, 8 and 64
    steps per call (64 > the 32 steps of an epoch), own dropout draws and strict-parity masks, class weights."""
    ir = ir_of(k, strict)
    a = Losses()
    b = Losses()
    reference = fit(name, ir, small, resident=False, callbacks=[a])
    resident = fit(name, ir, small, resident=True, callbacks=[b])
    assert_same(reference, resident)
    assert a.seen == b.seen and len(b.seen) == 64  # every batch's own logs, after its step's global step


@pytest.mark.parametrize("name", REAL)
def test_a_callback_that_needs_the_model_after_each_step_gets_one_step_per_call(name, small, monkeypatch):
    ir = ir_of(16)
    calls = []
    original = Residency.chunks

    def chunks(self, *args, **kwargs):
        for chunk in original(self, *args, **kwargs):
            calls.append(len(chunk))
            yield chunk

    monkeypatch.setattr(Residency, "chunks", chunks)
    a, b = NeedsModel(), NeedsModel()
    reference = fit(name, ir, small, resident=False, callbacks=[a])
    resident = fit(name, ir, small, resident=True, callbacks=[b])
    assert_same(reference, resident)
    assert set(calls) == {1} and len(calls) == 64
    for x, y in zip(a.first_kernels, b.first_kernels):
        np.testing.assert_array_equal(x, y)


def test_chunks_respect_the_size_limit_the_last_partial_batch_and_checkpoint_steps():
    residency = Residency(session=None, plan=MetricPlan(("loss",), ()), steps_per_call=4)
    batches = [np.arange(32)] * 10 + [np.arange(8)]
    sizes = lambda chunks: [[len(b) for b in c] for c in chunks]
    assert [len(c) for c in residency.chunks(batches, 0, None, False)] == [4, 4, 2, 1]
    assert sizes(residency.chunks(batches, 0, None, False))[-1] == [8]
    # a checkpoint every 3 global steps, the epoch starting after global step 7: boundaries after 9, 12, 15, 18
    assert [len(c) for c in residency.chunks(batches, 7, 3, False)] == [2, 3, 3, 2, 1]
    assert [len(c) for c in residency.chunks(batches, 0, None, True)] == [1] * 11


def test_metrics_that_are_not_exact_counts_keep_the_numpy_path(small):
    name = REAL[0] if REAL else pytest.skip("no real backend")
    ir = ir_of(accuracy_only=False)
    assert MetricPlan.from_ir(ir) is None
    model = get_backend(name, ir).build(ir, initial_weights(ir, 0))
    assert Trainer(model, ir, small).residency is None


def test_plan_layout_matches_the_runner_metric_set():
    from dnnc.runner.metrics import MetricSet

    ir = ir_of()
    plan = MetricPlan.from_ir(ir)
    metrics = MetricSet(ir)
    state = plan.state([3.5, 7.0], 10)
    metrics.load_state(state)
    assert metrics.result() == {"loss": 0.35, "accuracy": 0.7}
    np.testing.assert_array_equal(MetricPlan.values(metrics.state()), [3.5, 7.0])
