"""The runner with the real backends (skipped when a backend is not installed): one batch order,
run-to-run determinism, callbacks that behave the same whatever the backend."""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner import Trainer, epoch_permutation, train
from dnnc.runner.api import get_backend, load_datasets
from dnnc.runner.callbacks import Callback, EarlyStopping
from dnnc.runner.datasets import Datasets
from support.backends import BACKENDS, available
from support.fakes import FakeBackend, RecordingExecutor, ir_from_toml


SPEC = """
spec_version = 1
name = "mnist-small"
[data]
dataset = "mnist"
divide_by = 255
validation = {{ last = 500 }}
[model]
input_shape = [784]
layers = [
  {{ type = "dense", units = 32, activation = "relu" }},
  {{ type = "dropout", rate = 0.2 }},
  {{ type = "dense", units = 10, activation = "softmax" }},
]
[training]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
optimizer = {{ type = "sgd", learning_rate = 0.05, momentum = 0.9 }}
batch_size = 64
epochs = {epochs}
strict_parity = true
"""




@pytest.fixture(scope="module")
def mnist_small(data_dir):
    """2,000 training rows, 500 validation, 500 test rows of MNIST."""
    ir = ir_from_toml(SPEC.format(epochs=2))
    ds = load_datasets(ir, base_dir=None, data_dir=data_dir, download=False)
    take = lambda split, n: split.take(slice(0, n))
    return ir, Datasets(train=take(ds.train, 2000), validation=ds.validation, test=take(ds.test, 500))


def build(name, ir, seed=0):
    backend = FakeBackend() if name == "fake" else get_backend(name, ir)
    return backend.build(ir, initial_weights(ir, seed))


@pytest.mark.parametrize("name", BACKENDS)
def test_batch_order_is_the_same_for_every_backend(name, mnist_small):
    ir, ds = mnist_small
    one_epoch = Datasets(train=ds.train.take(slice(0, 300)), validation=None, test=None)
    orders = {}
    for b in ("fake", name):
        ex = RecordingExecutor(build(b, ir))
        Trainer(ex.model, ir, one_epoch, epochs=2, executor=ex).fit()
        orders[b] = ex.train_indices
    assert [len(i) for i in orders[name]] == [64, 64, 64, 64, 44] * 2
    for a, b in zip(orders["fake"], orders[name]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.concatenate(orders[name][5:]), epoch_permutation(300, 0, 1))


@pytest.mark.parametrize("name", BACKENDS)
def test_same_seed_same_history_run_to_run(name, mnist_small):
    ir, ds = mnist_small
    histories = [train(build(name, ir), ir, ds, epochs=2).history for _ in range(2)]
    assert histories[0] == histories[1]
    h = histories[0]
    assert h["accuracy"][1] > 0.75 and h["val_accuracy"][1] > 0.75  # it learns on 2,000 rows


@pytest.mark.parametrize("name", BACKENDS)
def test_early_stopping_with_a_scripted_val_loss(name, mnist_small):
    """Whatever the backend: the same stop epoch, and the restored weights are those of the best epoch."""
    ir, ds = mnist_small
    small = Datasets(train=ds.train.take(slice(0, 256)), validation=ds.validation.take(slice(0, 64)), test=None)
    script = [0.9, 0.5, 0.6, 0.55, 0.7, 0.1]

    class Script(Callback):
        def __init__(self):
            self.weights = []

        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = script[epoch]
            self.weights.append(self.model.get_weights())

    results = {}
    for b in ("fake", name):
        model = build(b, ir)
        scripted = Script()
        es = EarlyStopping(patience=2, restore_best_weights=True)
        h = Trainer(model, ir, small, epochs=len(script), callbacks=[scripted, es]).fit()
        assert h.stopped_epoch == 3 and es.best_epoch == 1
        final = model.get_weights()
        for k, v in scripted.weights[1].items():
            np.testing.assert_array_equal(final[k], v)
        assert not np.array_equal(final["dense/kernel"], scripted.weights[3]["dense/kernel"])
        results[b] = h
    assert results["fake"].epochs == results[name].epochs


@pytest.mark.skipif(not (available("torch") and available("keras")), reason="needs both the torch and keras backends")
def test_torch_and_keras_follow_one_trajectory_under_strict_parity(mnist_small):
    """One runner, one batch order, one dropout-mask stream: the two frameworks agree to float32 round-off."""
    ir, ds = mnist_small
    ds = Datasets(train=ds.train.take(slice(0, 1000)), validation=ds.validation.take(slice(0, 200)),
                  test=ds.test.take(slice(0, 200)))
    runs = {}
    for name in ("torch", "keras"):
        model = build(name, ir)
        runs[name] = (train(model, ir, ds, epochs=2), model.get_weights())
    (ht, wt), (hk, wk) = runs["torch"], runs["keras"]
    for key in ht.history:
        np.testing.assert_allclose(ht.history[key], hk.history[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for key in ht.test:
        assert ht.test[key] == pytest.approx(hk.test[key], rel=1e-5, abs=1e-6)
    for key in wt:
        np.testing.assert_allclose(wt[key], wk[key], atol=1e-5, err_msg=key)
