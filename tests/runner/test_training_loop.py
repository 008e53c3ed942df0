"""The training loop: batch order, learning rates, metric aggregation, class weights, strict parity, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.backends.base import StepResult
from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner import RunnerError, ShapeMismatch, Trainer, epoch_permutation, train
from dnnc.runner.callbacks import Callback
from dnnc.runner.datasets import Datasets, Split
from dnnc.runner.dropout import DropoutMasks, dropout_mask, node_key
from dnnc.runner.executor import LocalExecutor
from dnnc.runner.sampling import SequentialBatches, ShuffledBatches
from support.fakes import NumpyModel, RecordingExecutor, ir_from_toml, xor_spec


def xor_data(n_repeat=8, validation=0):
    from dnnc.runner.api import load_datasets

    ir = ir_from_toml(xor_spec(repeat=n_repeat, data_extra=f"validation = {{ last = {validation} }}" if validation else ""))
    return ir, load_datasets(ir, base_dir=None)


# --------------------------------------------------------------------------
# batch order
# --------------------------------------------------------------------------


def test_epoch_permutation_is_the_documented_philox_formula():
    expected = np.random.Generator(np.random.Philox(key=[7, 3])).permutation(100)
    np.testing.assert_array_equal(epoch_permutation(100, 7, 3), expected)
    # the key is seed (low word) + epoch (high word): the same as the 128-bit integer seed | epoch << 64
    np.testing.assert_array_equal(expected, np.random.Generator(np.random.Philox(key=7 | (3 << 64))).permutation(100))
    assert not np.array_equal(epoch_permutation(100, 7, 3), epoch_permutation(100, 7, 4))
    assert not np.array_equal(epoch_permutation(100, 7, 3), epoch_permutation(100, 8, 3))


def test_batches_cover_every_row_once_and_keep_the_last_partial_batch():
    source = ShuffledBatches(10, 4, seed=0)
    batches = list(source.batches(0))
    assert [len(b) for b in batches] == [4, 4, 2] and source.steps() == 3
    np.testing.assert_array_equal(np.concatenate(batches), epoch_permutation(10, 0, 0))
    assert [len(b) for b in SequentialBatches(10, 4).batches()] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(list(SequentialBatches(10, 4).batches())), np.arange(10))


def test_trainer_visits_rows_in_the_documented_order_and_keeps_partial_batches():
    ir, ds = xor_data(n_repeat=5, validation=3)  # 20 rows: 17 training, 3 validation
    model = NumpyModel(ir, initial_weights(ir, 0))
    ex = RecordingExecutor(model)
    trainer = Trainer(model, ir, ds, epochs=3, batch_size=5, validation_batch_size=2, executor=ex)
    trainer.fit()
    assert [len(i) for i in ex.train_indices] == [5, 5, 5, 2] * 3
    for epoch in range(3):
        got = np.concatenate(ex.train_indices[4 * epoch : 4 * epoch + 4])
        np.testing.assert_array_equal(got, epoch_permutation(17, 0, epoch))
    # validation: batches of 2 in order, last partial kept, once per epoch; then 4 test rows
    assert ex.eval_sizes == [2, 1] * 3 + [2, 2]
    assert trainer.history.steps == 12


def test_resuming_at_start_epoch_continues_the_same_order_and_step_count():
    ir, ds = xor_data(n_repeat=4)
    full = RecordingExecutor(NumpyModel(ir, initial_weights(ir, 0)))
    Trainer(full.model, ir, ds, epochs=3, executor=full).fit()
    resumed = RecordingExecutor(NumpyModel(ir, initial_weights(ir, 0)))
    t = Trainer(resumed.model, ir, ds, epochs=3, start_epoch=2, executor=resumed)
    t.fit()
    assert t.history.epochs == [2]
    steps = len(resumed.train_indices)
    for a, b in zip(full.train_indices[-steps:], resumed.train_indices):
        np.testing.assert_array_equal(a, b)
    assert t.history.steps == len(full.train_indices)


# --------------------------------------------------------------------------
# learning rate
# --------------------------------------------------------------------------


def test_each_step_gets_the_scheduled_rate_of_its_global_step():
    text = xor_spec(repeat=3).replace(
        "optimizer = { type = \"sgd\", learning_rate = 0.5 }",
        "optimizer = { type = \"sgd\", learning_rate = { type = \"exponential_decay\", initial_learning_rate = 0.5, "
        "decay_steps = 2, decay_rate = 0.5, staircase = true } }",
    )
    ir = ir_from_toml(text)
    from dnnc.runner.api import load_datasets

    ds = load_datasets(ir, base_dir=None)
    model = NumpyModel(ir, initial_weights(ir, 0))
    train(model, ir, ds, epochs=2)  # 12 rows, batch 4: 3 steps per epoch
    expected = [float(np.float32(0.5 * 0.5 ** (k // 2))) for k in range(6)]
    assert model.learning_rates == expected


def test_set_learning_rate_rescales_later_steps():
    ir, ds = xor_data(n_repeat=2)

    class Halve(Callback):
        def on_epoch_end(self, epoch, logs):
            self.context.set_learning_rate(self.context.learning_rate() / 2)

    model = NumpyModel(ir, initial_weights(ir, 0))
    train(model, ir, ds, epochs=3, callbacks=[Halve()])
    assert model.learning_rates == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]


# --------------------------------------------------------------------------
# metric aggregation
# --------------------------------------------------------------------------


class ScriptedModel:
    """Returns fixed logits so that the accuracy of each batch is known."""

    backend_name = "scripted"

    def __init__(self, ir, correct_by_batch):
        self.ir = ir
        self.out = ir.outputs[0].name
        self.correct = list(correct_by_batch)
        self.losses = []

    def train_step(self, inputs, targets, *, learning_rate, sample_weight=None, dropout_masks=None):
        y = targets[self.out]
        k = self.correct.pop(0)
        # logit > 0 predicts 1: make the first k rows right and the rest wrong
        z = np.where(np.arange(len(y))[:, None] < k, 2 * y - 1, 1 - 2 * y).astype(np.float32)
        loss = float(len(self.losses) + 1)
        self.losses.append((loss, len(y)))
        return StepResult({"loss": loss}, {self.out: z})

    def evaluate_step(self, inputs, targets, *, sample_weight=None):
        y = targets[self.out]
        return StepResult({"loss": 0.0}, {self.out: (2 * y - 1).astype(np.float32)})


def test_epoch_metrics_are_sums_over_samples_not_means_of_batch_means():
    ir, ds = xor_data(n_repeat=3)  # 12 rows
    model = ScriptedModel(ir, [1, 3, 4, 0])  # batches of 5, 5, 2: correct 1/5, 3/5, 2/2 (k capped by batch size)
    model.correct = [1, 3, 2]
    h = train(model, ir, ds, epochs=1, batch_size=5)
    assert h.history["accuracy"][0] == pytest.approx(6 / 12, abs=1e-12)  # mean of batch means would be 0.6
    # loss: batch losses 1, 2, 3 weighted by sizes 5, 5, 2
    assert h.history["loss"][0] == pytest.approx((1 * 5 + 2 * 5 + 3 * 2) / 12, abs=1e-12)
    assert h.test == {"test_loss": 0.0, "test_accuracy": 1.0}


def test_multi_output_history_keys():
    ir = ir_from_toml("""
spec_version = 1
[model]
inputs = [ { name = "wide", shape = [2] }, { name = "deep", shape = [3] } ]
layers = [
  { name = "h", type = "dense", units = 4, activation = "relu", inputs = ["deep"] },
  { name = "c", type = "concatenate", inputs = ["wide", "h"] },
  { name = "main", type = "dense", units = 1 },
  { name = "aux", type = "dense", units = 1, inputs = ["h"] },
]
outputs = ["main", "aux"]
[training]
loss = { main = "mse", aux = "mse" }
loss_weights = { main = 0.9, aux = 0.1 }
metrics = { main = ["mae"], aux = ["rmse"] }
optimizer = { type = "sgd", learning_rate = 0.01 }
batch_size = 8
epochs = 2
""")
    rng = np.random.default_rng(0)
    def split(n):
        x = {"wide": rng.normal(size=(n, 2)).astype(np.float32), "deep": rng.normal(size=(n, 3)).astype(np.float32)}
        y = x["wide"][:, :1] + x["deep"][:, :1]
        return Split(inputs=x, targets={"main": y, "aux": y.copy()})
    ds = Datasets(train=split(20), validation=split(6), test=split(5))
    model = NumpyModel(ir, initial_weights(ir, 0))
    h = train(model, ir, ds)
    assert list(h.history) == ["loss", "main_loss", "aux_loss", "main_mae", "aux_rmse",
                               "val_loss", "val_main_loss", "val_aux_loss", "val_main_mae", "val_aux_rmse"]
    assert list(h.test) == ["test_loss", "test_main_loss", "test_aux_loss", "test_main_mae", "test_aux_rmse"]
    for i in range(2):
        total = 0.9 * h.history["val_main_loss"][i] + 0.1 * h.history["val_aux_loss"][i]
        assert h.history["val_loss"][i] == pytest.approx(total, rel=1e-9)
        assert h.history["val_aux_rmse"][i] == pytest.approx(np.sqrt(h.history["val_aux_loss"][i]), rel=1e-6)


# --------------------------------------------------------------------------
# class weights, strict parity, shapes
# --------------------------------------------------------------------------


def test_class_weight_becomes_per_sample_weights():
    ir = ir_from_toml(xor_spec(repeat=2, training_extra='class_weight = { "0" = 0.25, "1" = 3.0 }'))
    from dnnc.runner.api import load_datasets

    ds = load_datasets(ir, base_dir=None)
    seen = []

    class Spy(LocalExecutor):
        def train_step(self, batch, *, learning_rate, dropout_masks=None):
            seen.append((batch.targets[ir.outputs[0].name].ravel().copy(), batch.sample_weight.copy()))
            return super().train_step(batch, learning_rate=learning_rate, dropout_masks=dropout_masks)

    model = NumpyModel(ir, initial_weights(ir, 0))
    Trainer(model, ir, ds, epochs=1, executor=Spy(model)).fit()
    for y, w in seen:
        np.testing.assert_array_equal(w, np.where(y == 1, 3.0, 0.25).astype(np.float32))


def test_strict_parity_passes_documented_dropout_masks():
    ir = ir_from_toml(xor_spec(repeat=5, rate=0.5, strict="true", batch=6))
    from dnnc.runner.api import load_datasets

    ds = load_datasets(ir, base_dir=None)
    model = NumpyModel(ir, initial_weights(ir, 0))
    train(model, ir, ds, epochs=2)
    masks = model.masks_seen
    assert [m["dropout"].shape for m in masks] == [(6, 8), (6, 8), (6, 8), (2, 8)] * 2  # actual batch sizes
    for step, m in enumerate(masks):
        g = np.random.Generator(np.random.Philox(key=[0, node_key("dropout")], counter=[0, 0, step, 0]))
        expected = (g.random(m["dropout"].shape, dtype=np.float32) >= np.float32(0.5)).astype(np.float32)
        np.testing.assert_array_equal(m["dropout"], expected)
    assert not np.array_equal(masks[0]["dropout"], masks[4]["dropout"])
    keep = np.concatenate([m["dropout"].ravel() for m in masks])
    assert set(np.unique(keep)) == {0.0, 1.0} and 0.3 < keep.mean() < 0.7
    assert node_key("dropout") >> 63 == 1
    # without strict parity no masks are passed
    model2 = NumpyModel(ir_from_toml(xor_spec(rate=0.5)), initial_weights(ir, 0))
    train(model2, model2.ir, load_datasets(model2.ir, base_dir=None), epochs=1)
    assert all(m is None for m in model2.masks_seen)


def test_dropout_masks_differ_between_nodes_and_respect_the_rate():
    a = dropout_mask(0, "d1", 5, (1000, 10), 0.2)
    b = dropout_mask(0, "d2", 5, (1000, 10), 0.2)
    assert not np.array_equal(a, b)
    assert abs(a.mean() - 0.8) < 0.02
    assert dropout_mask(0, "d1", 5, (3, 2), 0.0).tolist() == [[1, 1]] * 3
    assert DropoutMasks(ir_from_toml(xor_spec()), 0).nodes == [("dropout", (8,), 0.0)]


def test_input_shape_mismatch_names_input_and_both_shapes():
    ir, ds = xor_data()
    bad = Datasets(train=Split(inputs={"input": np.zeros((4, 3), np.float32)}, targets=ds.train.targets))
    with pytest.raises(ShapeMismatch, match=r"input 'input': the training data has per-sample shape \(3,\), the model expects \(2,\)"):
        Trainer(NumpyModel(ir, initial_weights(ir, 0)), ir, bad)


def test_label_range_target_shape_and_missing_training_table_are_reported():
    ir = ir_from_toml(xor_spec())
    no_training = ir.model_copy(update={"training": None})
    with pytest.raises(RunnerError, match="no \\[training\\] table"):
        Trainer(None, no_training, Datasets(train=Split({}, {})))
    x = {"input": np.zeros((4, 2), np.float32)}
    with pytest.raises(ShapeMismatch, match=r"output 'dense_1': the training targets have per-sample shape \(2,\), the model output has \(1,\)"):
        Trainer(None, ir, Datasets(train=Split(x, {"dense_1": np.zeros((4, 2), np.float32)})))
    sparse = ir_from_toml(xor_spec().replace('loss = "binary_crossentropy"', 'loss = "sparse_categorical_crossentropy"')
                          .replace('units = 1, activation = "sigmoid"', 'units = 2, activation = "softmax"'))
    with pytest.raises(ShapeMismatch, match="output 'dense_1' has 2 units, but the training labels run from 0 to 5"):
        Trainer(None, sparse, Datasets(train=Split(x, {"dense_1": np.array([0, 1, 5, 2])})))


def test_same_seed_same_history_different_seed_different_order():
    ir, ds = xor_data(n_repeat=6)
    runs = []
    for seed in (0, 0, 1):
        ex = RecordingExecutor(NumpyModel(ir, initial_weights(ir, 0)))
        h = Trainer(ex.model, ir, ds, epochs=4, seed=seed, executor=ex).fit()
        runs.append((h.history, np.concatenate(ex.train_indices)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][1], runs[2][1])
