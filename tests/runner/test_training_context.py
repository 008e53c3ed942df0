"""The TrainingContext: what a callback, built-in or from a plugin, may read and request — and nothing more."""

from __future__ import annotations

import types
from typing import Literal

import pytest
from pydantic import BaseModel

from dnnc.compiler.initial_weights import initial_weights
from dnnc.plugins.vocabulary import CallbackType
from dnnc.runner import RunnerError, Trainer, TrainingContext
from dnnc.runner.api import load_datasets
from dnnc.runner.callbacks import Callback, CallbackContext, CallbackList, build_callback
from dnnc.runner.datasets import Datasets, Split
from dnnc.runner.executor import LocalExecutor
from dnnc.runner.history import History
from dnnc.runner.progress import Progress
from support.fakes import NumpyModel, ir_from_toml, xor_spec


class HalvingSpec(BaseModel):
    type: Literal["halving"] = "halving"
    stop_after: int


class Halving(Callback):
    """A plugin's callback: halves the rate every epoch and stops after ``stop_after`` epochs, through the context only."""

    changes_learning_rate = True

    def __init__(self, stop_after: int, created_with: CallbackContext) -> None:
        self.stop_after = stop_after
        self.created_with = created_with
        self.seen: list[tuple] = []

    def on_train_begin(self, logs=None):
        self.keys = self.context.history_keys()

    def on_epoch_end(self, epoch, logs):
        c = self.context
        self.seen.append((epoch, c.epoch, c.global_step, logs.get("learning_rate"), c.learning_rate()))
        c.set_learning_rate(c.learning_rate() / 2)
        if epoch + 1 == self.stop_after:
            c.message(f"halving: stopping after epoch {epoch + 1}", "warning")
            c.request_stop("halving")


class QuietHalving(Halving):
    changes_learning_rate = False


class Recorder(Callback):
    def __init__(self):
        self.logged = []

    def on_epoch_end(self, epoch, logs):
        self.logged.append(logs.get("learning_rate"))


class Spy(Progress):
    def __init__(self):
        self.messages, self.contexts = [], []

    def train_begin(self, context):
        self.contexts.append(context)

    def message(self, text, level="info"):
        self.messages.append((level, text))


def plugin_registry(kind=Halving):
    def create(config, context):
        return kind(config["stop_after"], context)

    return types.SimpleNamespace(callbacks={"halving": CallbackType(HalvingSpec, create)}, origins={})


def xor_run(callbacks, epochs=5, progress=None):
    ir = ir_from_toml(xor_spec(repeat=2))  # 8 rows, batch 4: 2 steps per epoch, constant rate 0.5
    model = NumpyModel(ir, initial_weights(ir, 0))
    trainer = Trainer(model, ir, load_datasets(ir, base_dir=None), epochs=epochs, callbacks=callbacks, progress=progress)
    return trainer, model, trainer.fit()


def test_a_plugin_callback_changes_the_rate_stops_training_and_its_rate_is_logged():
    ir = ir_from_toml(xor_spec(repeat=2))
    creation = CallbackContext(ir=ir, run_dir=None, message=print)
    plugin = build_callback({"type": "halving", "stop_after": 3}, creation, plugin_registry())
    recorder, spy = Recorder(), Spy()
    trainer, model, history = xor_run([recorder, plugin], progress=spy)

    assert plugin.created_with is creation and plugin.context is trainer.context
    # the backend got the new rates: the epoch's two steps at 0.5, then 0.25, then 0.125
    assert model.learning_rates == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    # the declaration alone makes the loop log the rate of the next step, before any callback sees the logs
    assert "learning_rate" in plugin.keys
    assert history.history["learning_rate"] == [0.5, 0.25, 0.125]
    assert recorder.logged == [0.5, 0.25, 0.125]
    # what the callback read: (epoch, context.epoch, global step after the epoch, logged rate, rate of the next step)
    assert plugin.seen == [(0, 0, 2, 0.5, 0.5), (1, 1, 4, 0.25, 0.25), (2, 2, 6, 0.125, 0.125)]
    # the stop request ends training after epoch 3 of 5, with the callback's reason and message
    assert history.epochs == [0, 1, 2] and history.stopped_epoch == 2 and history.stop_reason == "halving"
    assert history.steps == 6
    assert ("warning", "halving: stopping after epoch 3") in spy.messages


def test_without_the_declaration_the_rate_changes_but_is_not_logged():
    ir = ir_from_toml(xor_spec(repeat=2))
    plugin = build_callback({"type": "halving", "stop_after": 9}, CallbackContext(ir=ir, run_dir=None, message=print),
                            plugin_registry(QuietHalving))
    recorder = Recorder()
    _, model, history = xor_run([recorder, plugin], epochs=3)
    assert model.learning_rates == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    assert "learning_rate" not in history.history and "learning_rate" not in plugin.keys
    assert recorder.logged == [None, None, None]
    assert CallbackList([plugin]).changes_learning_rate is False
    assert CallbackList([plugin, Halving(1, None)]).changes_learning_rate is True


def test_a_stop_requested_mid_epoch_ends_the_epoch_and_the_first_reason_wins():
    class StopAtStep(Callback):
        def __init__(self, reason):
            self.reason = reason

        def on_batch_end(self, step, logs):
            if self.context.epoch == 1 and step == 0:
                self.context.request_stop(self.reason)

    _, model, history = xor_run([StopAtStep("first"), StopAtStep("second")])
    assert history.stop_reason == "first" and history.stopped_epoch == 1
    assert history.steps == 3 and len(model.learning_rates) == 3  # epoch 2 ended after its first step


def test_progress_and_callbacks_share_one_context_that_holds_no_part_of_the_loop():
    spy, cb = Spy(), Recorder()
    trainer, model, _ = xor_run([cb], epochs=1, progress=spy)
    context = trainer.context
    assert spy.contexts == [context] and cb.context is context and isinstance(context, TrainingContext)
    assert context.model is model and context.state is trainer.state
    assert (context.epochs, context.steps_per_epoch, context.batch_size, context.train_rows) == (1, 2, 4, 8)
    assert context.validation_rows is None and context.test_rows == 4 and not context.has_validation
    loop_parts = (Trainer, Datasets, Split, LocalExecutor, Progress, History, CallbackList, Callback)
    held = [name for name, value in vars(context).items() if isinstance(value, loop_parts)]
    assert held == []


def test_set_learning_rate_refuses_a_zero_schedule():
    context = TrainingContext(ir=None, model=None, lr_spec=0.0, history_keys=[], epochs=1, steps_per_epoch=1,
                              batch_size=1, seed=0, train_rows=1)
    with pytest.raises(RunnerError, match="cannot rescale a learning rate of 0"):
        context.set_learning_rate(0.1)
