"""The histograms callback: TensorBoard histogram summaries (read back with TensorBoard's own reader) and PNGs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import types

import numpy as np
import pytest

from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner import RunnerError, Trainer
from dnnc.runner.api import load_datasets
from dnnc.runner.callbacks import Histograms, build_callback
from dnnc.runner.callbacks.event_histograms import histogram_proto
from dnnc.runner.context import CallbackContext
from dnnc_numpy.model import NumpyModel
from support.fakes import NumpyModel as FakeModel
from support.fakes import ir_from_toml

SPEC = """
spec_version = 1
name = "hist"
[data]
dataset = { type = "gaussian", rows = 64, shape = [5], classes = 3, seed = 1 }
validation_split = 0.25
[model]
input_shape = [5]
layers = [
  { type = "dense", units = 4, activation = "tanh" },
  { type = "relu" },
  { type = "dense", units = 3, activation = "softmax" },
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = { type = "sgd", learning_rate = 0.1 }
batch_size = 16
epochs = 3
[[training.callbacks]]
type = "histograms"
every_epochs = 2
log_dir = "tb"
"""

TAGS = {"activations/dense", "activations/relu", "activations/dense_1",
        "output_gradients/dense", "output_gradients/relu", "output_gradients/dense_1",
        "weights/dense/kernel", "weights/dense/bias", "weights/dense_1/kernel", "weights/dense_1/bias",
        "weight_gradients/dense/kernel", "weight_gradients/dense/bias",
        "weight_gradients/dense_1/kernel", "weight_gradients/dense_1/bias"}


def read_histograms(directory, monkeypatch):
    """TensorBoard's EventAccumulator (with its TensorFlow-free file access)."""
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, EventAccumulator

    acc = EventAccumulator(str(directory), size_guidance={HISTOGRAMS: 0})
    acc.Reload()
    return {tag: acc.Histograms(tag) for tag in acc.Tags()["histograms"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("run")
    ir = ir_from_toml(SPEC, name="hist")
    datasets = load_datasets(ir, base_dir=None)
    weights = initial_weights(ir, 0)
    callback = build_callback(dict(ir.training.callbacks[0]), CallbackContext(ir, tmp_path, print))
    assert isinstance(callback, Histograms)
    Trainer(NumpyModel(ir, weights), ir, datasets, run_dir=tmp_path, callbacks=[callback]).fit()
    return ir, datasets, weights, callback, tmp_path


def test_tensorboard_reads_the_histograms_at_the_initial_weights_and_every_second_epoch(trained, monkeypatch):
    ir, datasets, weights, _, run_dir = trained
    histograms = read_histograms(run_dir / "tb", monkeypatch)
    assert set(histograms) == TAGS
    assert all([e.step for e in events] == [0, 2] for events in histograms.values())
    # step 0 is the initial model on the 48 training rows: compare with a probe of it
    rows = datasets.train
    probe = NumpyModel(ir, weights).probe(rows.inputs, rows.targets)
    expected = {**{f"activations/{k}": v for k, v in probe.activations.items()},
                **{f"output_gradients/{k}": v for k, v in probe.output_gradients.items()},
                **{f"weights/{k}": v for k, v in weights.items()},
                **{f"weight_gradients/{k}": v for k, v in probe.parameter_gradients.items()}}
    for tag, events in histograms.items():
        h, a = events[0].histogram_value, np.asarray(expected[tag], np.float64)
        assert h.num == a.size and sum(h.bucket) == a.size, tag
        assert h.min == pytest.approx(a.min(), abs=1e-6) and h.max == pytest.approx(a.max(), abs=1e-6), tag
        assert h.sum == pytest.approx(a.sum(), rel=1e-5, abs=1e-6), tag
        assert h.sum_squares == pytest.approx(np.square(a).sum(), rel=1e-5), tag
        assert len(h.bucket_limit) in (1, 30) and h.bucket_limit[-1] == h.max, tag
    assert histograms["activations/dense"][0].histogram_value.num == 48 * 4
    # training changed the weights between step 0 and step 2
    k0, k2 = (e.histogram_value for e in histograms["weights/dense/kernel"])
    assert (k0.sum, k0.sum_squares) != (k2.sum, k2.sum_squares)


def test_pngs_per_measurement(trained):
    *_, callback, run_dir = trained
    names = sorted(str(p.relative_to(run_dir)) for p in callback.written)
    assert names == [f"histograms/epoch-{e}/{q}.png" for e in ("000", "002")
                     for q in ("activations", "gradients", "weight_gradients")]
    for path in callback.written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_histogram_buckets():
    h = histogram_proto(np.array([0.0, 1.0, 1.0, 3.0, np.nan]), buckets=3)
    assert (h.min, h.max, h.num, h.sum, h.sum_squares) == (0.0, 3.0, 4.0, 5.0, 11.0)
    assert list(h.bucket_limit) == [1.0, 2.0, 3.0] and list(h.bucket) == [1.0, 2.0, 1.0]
    constant = histogram_proto(np.full(5, 2.5))
    assert list(constant.bucket_limit) == [2.5] and list(constant.bucket) == [5.0]
    assert histogram_proto(np.array([])).num == 0


def test_a_backend_without_probe_and_a_missing_split_are_named(tmp_path):
    ir = ir_from_toml(SPEC, name="hist")
    datasets = load_datasets(ir, base_dir=None)
    with pytest.raises(RunnerError, match=r"histograms: backend 'fake' does not implement the optional"):
        Trainer(FakeModel(ir, initial_weights(ir, 0)), ir, datasets, run_dir=tmp_path, callbacks=[Histograms()]).fit()
    datasets = dataclasses.replace(datasets, validation=None)
    with pytest.raises(RunnerError, match=r"histograms: the data has no validation rows"):
        Trainer(NumpyModel(ir, initial_weights(ir, 0)), ir, datasets, run_dir=tmp_path,
                callbacks=[Histograms(split="validation")]).fit()


def test_histogram_writer_does_not_import_tensorflow():
    code = ("import sys, tempfile, numpy as np; from dnnc.runner.callbacks.event_histograms import HistogramEventWriter; "
            "w = HistogramEventWriter(tempfile.mkdtemp()); w.histograms({'a': np.arange(5.0)}, 1); w.close(); "
            "print('tensorflow' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_the_context_hands_out_copies_of_the_rows():
    ir = ir_from_toml(SPEC, name="hist")
    datasets = load_datasets(ir, base_dir=None)
    trainer = Trainer(NumpyModel(ir, initial_weights(ir, 0)), ir, datasets)
    rows = trainer.context.rows("train", 10)
    assert rows.n == 10 and trainer.context.rows("validation").n == 16 and trainer.context.rows("test") is None
    np.testing.assert_array_equal(rows.inputs["input"], datasets.train.inputs["input"][:10])
    rows.inputs["input"][:] = 0.0
    assert np.all(datasets.train.inputs["input"][:10] != 0.0)  # the loop's data is untouched
    with pytest.raises(RunnerError, match=r"unknown split 'tests' \(allowed: train, validation, test\)"):
        trainer.context.rows("tests")
