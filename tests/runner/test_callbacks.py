"""Callbacks, implemented once for every backend, with Keras 3 semantics."""

from __future__ import annotations

import csv
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from dnnc.backends.base import StepResult
from dnnc.compiler.initial_weights import initial_weights
from dnnc.plugins.vocabulary import CallbackType
from dnnc.runner import RunnerError, Trainer, train
from dnnc.runner.api import load_datasets
from dnnc.runner.callbacks import (Callback, CallbackContext, CsvLogger, EarlyStopping, ModelCheckpoint,
                                   ReduceLROnPlateau, TensorBoard, TerminateOnNaN, build_callback, build_callbacks)
from dnnc.runner.context import TrainingContext
from support.fakes import FakeBackend, NumpyModel, ir_from_toml, xor_spec

# Keras's own callbacks are the reference implementation, when installed (imported only by those tests).
HAVE_KERAS = importlib.util.find_spec("keras") is not None


# --------------------------------------------------------------------------
# driving callbacks without a real loop
# --------------------------------------------------------------------------


class CounterModel:
    """Weights = {"w": [epoch counter]}: which epoch's weights are loaded is visible."""

    def __init__(self):
        self.value = 0

    def get_weights(self):
        return {"w": np.array([self.value], dtype=np.float32)}

    def set_weights(self, weights):
        self.value = int(weights["w"][0])


def bare_context(keys=("loss", "val_loss"), lr=0.1, messages=None):
    """A real TrainingContext with no loop behind it: a constant rate, a CounterModel, messages into a list."""
    report = None if messages is None else (lambda text, level: messages.append((level, text)))
    return TrainingContext(ir=None, model=CounterModel(), lr_spec=lr, history_keys=keys, epochs=100,
                           steps_per_epoch=1, batch_size=1, seed=0, train_rows=1, report=report)


def drive_early_stopping(values, **config):
    cb = EarlyStopping(**config)
    context = bare_context()
    cb.bind(context)
    cb.on_train_begin()
    epoch = -1
    for epoch, v in enumerate(values):
        context.model.value = epoch + 1  # the weights after training epoch `epoch`
        cb.on_epoch_end(epoch, {"val_loss": v})
        if context.stop_reason is not None:
            break
    cb.on_train_end()
    return epoch, context.model.value


def keras_early_stopping(values, **config):
    import keras

    class KModel:
        def __init__(self):
            self.value, self.stop_training = 0, False

        def get_weights(self):
            return [np.array(self.value)]

        def set_weights(self, weights):
            self.value = int(weights[0])

    cb = keras.callbacks.EarlyStopping(**config)
    model = KModel()
    cb.set_model(model)
    cb.on_train_begin()
    epoch = -1
    for epoch, v in enumerate(values):
        model.value = epoch + 1
        cb.on_epoch_end(epoch, {"val_loss": v})
        if model.stop_training:
            break
    cb.on_train_end()
    return epoch, model.value


def test_early_stopping_documented_cases():
    # patience 0 and 1 behave the same; never stops at epoch 0; restores the best even without stopping
    assert drive_early_stopping([1.0, 2.0, 3.0], patience=0) == (1, 2)
    assert drive_early_stopping([1.0, 2.0, 3.0], patience=1) == (1, 2)
    assert drive_early_stopping([1.0, 0.9, 0.8], patience=0, restore_best_weights=True) == (2, 3)
    assert drive_early_stopping([0.5, 0.9, 0.8, 0.7], patience=5, restore_best_weights=True) == (3, 1)
    # min_delta: 0.95 is not better than 1.0 − 0.1
    assert drive_early_stopping([1.0, 0.95, 0.93], patience=2, min_delta=0.1) == (2, 3)
    # baseline: improvements that do not beat it do not reset the patience
    # (an improving epoch never stops training, so the stop comes at the first non-improving one)
    assert drive_early_stopping([0.9, 0.8, 0.7, 0.75, 0.76], patience=2, baseline=0.5) == (3, 4)
    assert drive_early_stopping([0.9, 0.8, 0.7, 0.75, 0.76], patience=2) == (4, 5)
    # start_from_epoch: the first epochs are ignored
    assert drive_early_stopping([5.0, 1.0, 2.0, 3.0, 4.0], patience=1, start_from_epoch=2) == (3, 4)


@pytest.mark.skipif(not HAVE_KERAS, reason="keras is not installed: no reference implementation")
def test_early_stopping_matches_keras_on_random_sequences():
    rng = np.random.default_rng(0)
    for case in range(150):
        values = [float(v) for v in np.round(rng.uniform(0, 1, size=10), 2)]
        if case % 3 == 0:
            values = sorted(values, reverse=True)[:5] + values[5:]
        config = dict(
            patience=int(rng.integers(0, 4)),
            min_delta=float(rng.choice([0.0, 0.005, 0.035])),
            baseline=None if rng.random() < 0.6 else float(rng.choice([0.305, 0.605])),
            restore_best_weights=bool(rng.random() < 0.7),
            start_from_epoch=int(rng.integers(0, 3)),
        )
        mine = drive_early_stopping(values, **config)
        ref = keras_early_stopping(values, monitor="val_loss", mode="auto", **config)
        assert mine == ref, (values, config)


def test_early_stopping_in_the_loop_stops_and_restores_the_best_weights():
    """Scripted val_loss in the real loop (NumPy backend): stop epoch and restored weights as predicted."""
    ir = ir_from_toml(xor_spec(repeat=2, data_extra="validation = { last = 4 }"))
    ds = load_datasets(ir, base_dir=None)
    script = [1.0, 0.7, 0.8, 0.6, 0.65, 0.66, 0.9, 0.1]

    class Script(Callback):
        def __init__(self):
            self.weights = []

        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = script[epoch]
            self.weights.append(self.model.get_weights())

    scripted = Script()
    es = EarlyStopping(patience=2, restore_best_weights=True)
    model = NumpyModel(ir, initial_weights(ir, 0))
    history = train(model, ir, ds, epochs=len(script), callbacks=[scripted, es])
    assert history.stopped_epoch == 5 and history.stop_reason == "early_stopping"
    assert history.history["val_loss"] == script[:6]
    assert es.best_epoch == 3 and es.restored
    for k, v in scripted.weights[3].items():
        np.testing.assert_array_equal(model.get_weights()[k], v)


def test_monitor_typo_fails_early_and_missing_validation_warns():
    ir = ir_from_toml(xor_spec(repeat=2, data_extra="validation = { last = 4 }"))
    ds = load_datasets(ir, base_dir=None)
    with pytest.raises(RunnerError, match="monitor 'val_los' is not a history key of this run — did you mean 'val_loss'"):
        train(NumpyModel(ir, initial_weights(ir, 0)), ir, ds, callbacks=[EarlyStopping(monitor="val_los")])
    ir2 = ir_from_toml(xor_spec(repeat=2))
    messages = []

    class Spy:
        def __getattr__(self, name):
            return lambda *a, **k: None

        def message(self, text, level="info"):
            messages.append((level, text))

    h = train(NumpyModel(ir2, initial_weights(ir2, 0)), ir2, load_datasets(ir2, base_dir=None), epochs=3,
              callbacks=[EarlyStopping(patience=0)], progress=Spy())
    assert len(h.epochs) == 3 and h.stop_reason is None
    assert messages and messages[0][0] == "warning" and "no validation rows" in messages[0][1]


def test_mode_auto_directions():
    from dnnc.runner.callbacks import resolve_mode

    ir = ir_from_toml(xor_spec().replace('metrics = ["accuracy"]', 'metrics = ["accuracy", "mae"]'))
    assert resolve_mode("val_loss", "auto", ir) == "min"
    assert resolve_mode("val_accuracy", "auto", ir) == "max"
    assert resolve_mode("mae", "auto", ir) == "min"
    assert resolve_mode("val_accuracy", "min", ir) == "min"


# --------------------------------------------------------------------------
# reduce_lr_on_plateau
# --------------------------------------------------------------------------


def drive_reduce_lr(values, lr=0.1, **config):
    cb = ReduceLROnPlateau(**config)
    context = bare_context(lr=lr)
    cb.bind(context)
    cb.on_train_begin()
    rates, logged = [], []
    for epoch, v in enumerate(values):
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        rates.append(context.learning_rate())
    return rates, logged


def keras_reduce_lr(values, lr=0.1, **config):
    import keras

    class Opt:
        def __init__(self):
            self._lr = np.float32(lr)

        @property
        def learning_rate(self):
            return self._lr

        @learning_rate.setter
        def learning_rate(self, value):
            self._lr = np.float32(value)  # Keras keeps the rate in a float32 variable

    model = types.SimpleNamespace(optimizer=Opt(), stop_training=False)
    cb = keras.callbacks.ReduceLROnPlateau(**config)
    cb.set_model(model)
    cb.on_train_begin()
    rates, logged = [], []
    for epoch, v in enumerate(values):
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        rates.append(float(model.optimizer.learning_rate))
    return rates, logged


def test_reduce_lr_documented_sequence():
    rates, logged = drive_reduce_lr([1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5], factor=0.5, patience=1, cooldown=1, min_delta=1e-4)
    # epoch 1: wait 1 ≥ 1 → 0.05, cooldown 1; epoch 2: the cooldown counter drops to 0 first, so the same
    # epoch counts as a bad one again → 0.025 (Keras's cooldown C acts like torch's C − 1); epoch 4 improves
    assert rates == pytest.approx([0.1, 0.05, 0.025, 0.0125, 0.0125, 0.00625, 0.003125], rel=1e-6)
    assert logged == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125, 0.0125, 0.00625], rel=1e-6)  # before the reduction
    floor, _ = drive_reduce_lr([1.0] * 6, lr=0.1, factor=0.1, patience=0, min_lr=0.001)
    assert floor == pytest.approx([0.1, 0.01, 0.001, 0.001, 0.001, 0.001], rel=1e-6)  # min_lr is a floor


@pytest.mark.skipif(not HAVE_KERAS, reason="keras is not installed: no reference implementation")
def test_reduce_lr_matches_keras_on_random_sequences():
    rng = np.random.default_rng(1)
    for _ in range(150):
        values = [float(v) for v in np.round(rng.uniform(0, 1, size=12), 2)]
        if rng.random() < 0.5:
            values = sorted(values, reverse=True)
            values = [v + (0.00005 if i % 2 else 0) for i, v in enumerate(values)]  # improvements smaller than min_delta
        config = dict(factor=float(rng.choice([0.5, 0.1, 0.3])), patience=int(rng.integers(0, 4)),
                      cooldown=int(rng.integers(0, 3)), min_delta=float(rng.choice([1e-4, 0.015])),
                      min_lr=float(rng.choice([0.0, 0.004])))
        mine = drive_reduce_lr(values, **config)
        ref = keras_reduce_lr(values, monitor="val_loss", mode="auto", **config)
        assert mine[0] == ref[0], (values, config)
        assert mine[1] == pytest.approx(ref[1], rel=1e-7), (values, config)


def test_reduce_lr_in_the_loop_changes_the_rate_the_backend_gets():
    ir = ir_from_toml(xor_spec(repeat=1, data_extra="validation = { last = 1 }"))
    ds = load_datasets(ir, base_dir=None)

    class Flat(Callback):
        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = 1.0

    model = NumpyModel(ir, initial_weights(ir, 0))
    history = train(model, ir, ds, epochs=3, batch_size=3,
                    callbacks=[Flat(), ReduceLROnPlateau(factor=0.5, patience=0)])
    # 3 training rows: one step per epoch; epoch 0 is the first value (an improvement), epochs 1, 2 reduce
    assert model.learning_rates == [0.5, 0.5, 0.25]
    assert history.history["learning_rate"] == [0.5, 0.5, 0.25]


# --------------------------------------------------------------------------
# model_checkpoint
# --------------------------------------------------------------------------


def test_checkpoint_template_save_best_only_and_loadable_files(tmp_path):
    ir = ir_from_toml(xor_spec(repeat=2, data_extra="validation = { last = 4 }"))
    ds = load_datasets(ir, base_dir=None)
    script = [0.9, 0.5, 0.7, 0.4]

    class Script(Callback):
        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = script[epoch]

    every = ModelCheckpoint(path="ck/e{epoch:02d}-{val_loss:.2f}.npz", save_best_only=False)
    best = ModelCheckpoint(path="best.ckpt", save_best_only=True)
    model = NumpyModel(ir, initial_weights(ir, 0))
    weights_at = []

    class Keep(Callback):
        def on_epoch_end(self, epoch, logs):
            weights_at.append(self.model.get_weights())

    Trainer(model, ir, ds, epochs=4, callbacks=[Script(), every, best, Keep()], run_dir=tmp_path).fit()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["e01-0.90.npz", "e02-0.50.npz", "e03-0.70.npz", "e04-0.40.npz"]
    assert [p.name for p in best.saved] == ["best.ckpt"] * 3  # epochs 1, 2, 4 improve
    with np.load(tmp_path / "best.ckpt") as data:
        for k, v in weights_at[3].items():
            np.testing.assert_array_equal(data[k], v)
    with np.load(tmp_path / "ck" / "e03-0.70.npz") as data:
        assert set(data.files) == set(weights_at[2])
    assert not [p for p in tmp_path.rglob("*.tmp-*")]


def test_checkpoint_with_native_suffix_uses_the_backend_save(tmp_path):
    ir = ir_from_toml(xor_spec(repeat=1))
    ds = load_datasets(ir, base_dir=None)
    model = FakeBackend().build(ir, initial_weights(ir, 0))
    Trainer(model, ir, ds, epochs=1, run_dir=tmp_path, artifact_suffix=".fake",
            callbacks=[ModelCheckpoint(path="m-{epoch}.fake")]).fit()
    loaded = FakeBackend().load(tmp_path / "m-1.fake")
    np.testing.assert_array_equal(loaded.get_weights()["dense/kernel"], model.get_weights()["dense/kernel"])


def test_checkpoint_unknown_template_key_fails_before_training(tmp_path):
    ir = ir_from_toml(xor_spec(repeat=1))
    ds = load_datasets(ir, base_dir=None)
    model = NumpyModel(ir, initial_weights(ir, 0))
    with pytest.raises(RunnerError, match=r"cannot format the path 'c-\{val_acc\}.npz' \(KeyError: 'val_acc'\); it may use \{epoch\} and the history keys accuracy, loss"):
        Trainer(model, ir, ds, run_dir=tmp_path, callbacks=[ModelCheckpoint(path="c-{val_acc}.npz")]).fit()
    assert model.calls == []


WRITER = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    # load dnnc/runner/callbacks/atomic.py alone (it needs only numpy): a fast start for each of the kills
    spec = importlib.util.spec_from_file_location("atomic", sys.argv[2])
    atomic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(atomic)
    atomic_save_npz = atomic.atomic_save_npz
    target = sys.argv[1]
    big = np.empty(6_000_000, dtype=np.float32)  # 24 MB
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        big.fill(i)
        atomic_save_npz(target, {"dense/kernel": big, "step": np.array([i])})
        if i == 1:
            print("wrote", flush=True)  # one complete write exists: the kills below can only interrupt later ones
""")


def test_checkpoint_writes_are_atomic_under_sigkill(tmp_path):
    """Kill a writer repeatedly in the middle of writing a large checkpoint: the target is absent or complete."""
    from dnnc.runner.callbacks import atomic as atomic_module

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    target = tmp_path / "ckpt.npz"
    rng = np.random.default_rng(0)
    complete_seen, interrupted = 0, 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, str(script), str(target), atomic_module.__file__], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        assert proc.stdout.readline().strip() == b"wrote"  # however slow the machine, a write has completed
        time.sleep(float(rng.uniform(0.0, 0.3)))  # then the writer writes without pause: most kills hit a write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if target.exists():
            with np.load(target) as data:  # never truncated: loads, and every value belongs to one write
                step = int(data["step"][0])
                kernel = data["dense/kernel"]
                assert kernel.shape == (6_000_000,) and np.all(kernel == step)
            complete_seen += 1
        temps = list(tmp_path.glob(".ckpt.tmp-*"))
        interrupted += bool(temps)
        for t in temps:
            t.unlink()
    assert complete_seen == 6  # every kill came after a complete write, which stays complete
    assert interrupted >= 1  # at least one kill hit a write in progress


# --------------------------------------------------------------------------
# tensorboard, csv_logger, terminate_on_nan
# --------------------------------------------------------------------------


def test_tensorboard_event_files_hold_the_scalars(tmp_path, monkeypatch):
    ir = ir_from_toml(xor_spec(repeat=2, data_extra="validation = { last = 4 }"))
    ds = load_datasets(ir, base_dir=None)
    h = Trainer(NumpyModel(ir, initial_weights(ir, 0)), ir, ds, epochs=3, run_dir=tmp_path,
                callbacks=[TensorBoard(log_dir="tb")]).fit()
    # read back with TensorBoard's own reader, using its TensorFlow-free file access
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def scalars(part):
        acc = EventAccumulator(str(tmp_path / "tb" / part))
        acc.Reload()
        return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}

    train_s, val_s, test_s = scalars("train"), scalars("validation"), scalars("test")
    assert set(train_s) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert [s for s, _ in train_s["epoch_loss"]] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in train_s["epoch_loss"]], h.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val_s["epoch_accuracy"]], h.history["val_accuracy"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train_s["epoch_learning_rate"]], [0.5] * 3)
    assert test_s["epoch_loss"][0] == (3, pytest.approx(h.test["test_loss"], rel=1e-6))


def test_event_writer_does_not_import_tensorflow():
    code = ("import sys, tempfile; from dnnc.runner.callbacks.event_writer import ScalarEventWriter; "
            "w = ScalarEventWriter(tempfile.mkdtemp()); w.scalars({'a': 1.0}, 1); w.close(); "
            "print('tensorflow' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_csv_logger_rows_and_append(tmp_path):
    ir = ir_from_toml(xor_spec(repeat=2))
    ds = load_datasets(ir, base_dir=None)
    h = Trainer(NumpyModel(ir, initial_weights(ir, 0)), ir, ds, epochs=2, run_dir=tmp_path,
                callbacks=[CsvLogger(path="log/h.csv")]).fit()
    rows = list(csv.reader(open(tmp_path / "log" / "h.csv")))
    assert rows[0] == ["epoch", "accuracy", "loss"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert [float(r[2]) for r in rows[1:]] == h.history["loss"]
    Trainer(NumpyModel(ir, initial_weights(ir, 0)), ir, ds, epochs=1, run_dir=tmp_path,
            callbacks=[CsvLogger(path="log/h.csv", append=True)]).fit()
    assert len(list(csv.reader(open(tmp_path / "log" / "h.csv")))) == 4  # one header, three rows


class DivergingModel(NumpyModel):
    """Becomes NaN at a given global step."""

    nan_at = 5

    def train_step(self, inputs, targets, **kw):
        result = super().train_step(inputs, targets, **kw)
        if len(self.calls_train()) > self.nan_at:
            self.w = {k: np.full_like(v, np.nan) for k, v in self.w.items()}
            result = StepResult({"loss": float("nan")}, result.outputs)
        return result

    def calls_train(self):
        return [c for c in self.calls if c[0] == "train"]


def test_terminate_on_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    ir = ir_from_toml(xor_spec(repeat=2))  # 8 rows, batch 4: 2 steps per epoch; NaN at the 6th step (epoch 3, step 2)
    ds = load_datasets(ir, base_dir=None)
    model = DivergingModel(ir, initial_weights(ir, 0))
    messages = []

    class Spy:
        def __getattr__(self, name):
            return lambda *a, **k: None

        def message(self, text, level="info"):
            messages.append((level, text))

    good = []

    class Keep(Callback):
        def on_epoch_end(self, epoch, logs):
            good.append(self.model.get_weights())

    tn = TerminateOnNaN()
    history = Trainer(model, ir, ds, epochs=10, run_dir=tmp_path, progress=Spy(),
                      callbacks=[tn, ModelCheckpoint(path="last.npz"), Keep()]).fit()
    assert history.stop_reason == "nan" and history.stopped_epoch == 2 and len(history.epochs) == 3
    assert tn.triggered_at == (2, 1)
    assert np.isnan(history.history["loss"][2])
    assert any(level == "error" and "epoch 3, step 2/2" in text for level, text in messages)
    assert any("not saving epoch 3" in text for _, text in messages)
    with np.load(tmp_path / "last.npz") as data:  # epoch 2's weights, finite
        for k, v in good[1].items():
            np.testing.assert_array_equal(data[k], v)
            assert np.all(np.isfinite(data[k]))


# --------------------------------------------------------------------------
# building callbacks from the IR, plugin callbacks
# --------------------------------------------------------------------------


def test_callbacks_are_built_from_the_ir_tables():
    ir = ir_from_toml(xor_spec(training_extra="""
[[training.callbacks]]
type = "early_stopping"
patience = 3
[[training.callbacks]]
type = "reduce_lr_on_plateau"
monitor = "loss"
[[training.callbacks]]
type = "terminate_on_nan"
"""))
    ctx = CallbackContext(ir=ir, run_dir=None, message=print)
    cbs = build_callbacks(ir.training.callbacks, ctx)
    assert [type(c).__name__ for c in cbs] == ["EarlyStopping", "ReduceLROnPlateau", "TerminateOnNaN"]
    assert cbs[0].patience == 3 and cbs[1].patience == 10 and cbs[1].watch.min_delta == 1e-4


def test_plugin_callbacks_are_created_through_the_registry():
    from pydantic import BaseModel

    class Spec(BaseModel):
        type: str = "my_cb"

    created = []

    class Mine(Callback):
        pass

    def create(config, context):
        created.append((config, context))
        return Mine()

    registry = types.SimpleNamespace(callbacks={"my_cb": CallbackType(Spec, create), "bare": CallbackType(Spec, None)},
                                     origins={"dnnc_callback_typesbare": "acme"})
    ctx = CallbackContext(ir=None, run_dir=None, message=print)
    assert isinstance(build_callback({"type": "my_cb", "x": 1}, ctx, registry), Mine)
    assert created[0] == ({"type": "my_cb", "x": 1}, ctx)
    with pytest.raises(RunnerError, match="'bare' \\(plugin 'acme'\\) has no runner implementation"):
        build_callback({"type": "bare"}, ctx, registry)
    with pytest.raises(RunnerError, match="unknown callback type 'nope'"):
        build_callback({"type": "nope"}, ctx, registry)
