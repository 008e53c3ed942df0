"""The one training loop of dnnc, shared by every backend.

For each epoch ``e`` (0-based, from ``start_epoch`` to ``epochs − 1``):

1. the training metrics are reset and ``on_epoch_begin(e)`` runs;
2. the training rows are visited in the order of ``batch_source.batches(e)``
   (by default :class:`~dnnc.runner.sampling.ShuffledBatches`: a fresh
   ``Generator(Philox(key=[seed, e])).permutation(n)`` per epoch, batches of
   ``batch_size``, the last partial batch kept);
3. for each batch (global step ``k``, counted from 0 over the whole run): the
   learning rate is ``float32(learning_rate_at(optimizer.learning_rate, k) ·
   lr_factor)`` (``lr_factor`` starts at 1; a callback changes it through
   ``context.set_learning_rate``, as reduce_lr_on_plateau does);
   with ``strict_parity`` one dropout keep mask per dropout node is drawn
   (:mod:`dnnc.runner.dropout`); the executor runs ``model.train_step``; the
   step's losses and logits update the epoch's metrics (Σ over samples);
   ``on_batch_end`` runs; a stop request ends the epoch there;
4. the validation rows, if any, are evaluated in order in batches of
   ``validation_batch_size`` with ``model.evaluate_step`` (keys ``val_…``);
5. if a callback declares ``changes_learning_rate``, ``logs["learning_rate"]``
   is the rate of the next step; ``on_epoch_end(e, logs)`` runs, then the logs
   are appended to the history; training stops if a callback asked for it.

After the last epoch: ``on_train_end`` (which may restore the best weights),
then the test rows are evaluated (keys ``test_…``) and ``on_test_end`` runs.

Checkpoints and resuming (:mod:`dnnc.runner.checkpoint`): with a
``checkpoints`` writer the loop writes the resumable state after the steps and
epochs it says are due (a mid-epoch one after ``on_batch_end``, an epoch one
after ``on_epoch_end`` and the history entry).  ``resume`` continues from such a
checkpoint: the weights, the trainability of unfrozen layers, the optimizer
state and, on the backend that wrote it, the dropout generators are restored
before ``prepare``; ``on_train_begin`` runs, then every callback gets its state
back and the history is the checkpoint's; the epoch in progress continues
after its last done batch with its running metric sums, without
``on_epoch_begin``.  A run continued this way ends bit for bit as the
uninterrupted run would have (same weights, history and test metrics; only
the timings differ).

``class_weight`` becomes per-sample weights (multiplied into the data's own
sample weights, if any) for the training rows only.

Callbacks and the progress reporter see the run through one
:class:`~dnnc.runner.context.TrainingContext` (:attr:`Trainer.context`), whose
:class:`~dnnc.runner.context.TrainingState` holds everything the loop changes
as it runs (epoch, global step, learning-rate factor, stop request).  The loop
reaches the model only through a step executor (:mod:`dnnc.runner.executor`)
and the training rows only through a batch source (:mod:`dnnc.runner.sampling`).

Resident training (:mod:`dnnc.runner.resident`, the default when the backend
offers it and no executor is given): the splits are bound to the backend once,
steps 3 and 4 run in chunks of up to ``training.steps_per_execution`` steps
whose rows the backend gathers and whose sums it accumulates; ``on_batch_end``
runs for each step of a chunk after it (one step per chunk when a callback
needs the model after each step).  Rows, order, learning rates, masks and sums
are those of the procedure above, so every number is the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..backends.base import CompiledModel, named_losses, require_method
from ..compiler.freezing import frozen_nodes, with_trainable
from ..compiler.ir import ModelIR
from .callbacks.base import Callback, CallbackList
from .checkpoint import Checkpoint, CheckpointWriter, ir_digest
from .context import TrainingContext, TrainingState, copied_rows
from .data_checks import check_split, class_sample_weights
from .datasets.containers import Datasets, Split
from .dropout import DropoutMasks
from .errors import RunnerError
from .executor import Batch, LocalExecutor, StepExecutor
from .history import History
from .metrics import MetricSet
from .phases import Phases, timed
from .progress import Progress, QuietProgress
from .resident import open_residency
from .sampling import BatchSource, SequentialBatches, ShuffledBatches


def gather(split: Split, index: np.ndarray, sample_weight: np.ndarray | None = None) -> Batch:
    """The rows ``index`` of ``split`` as a :class:`Batch` (``sample_weight`` overrides the split's)."""
    weights = split.sample_weight if sample_weight is None else sample_weight
    return Batch(
        indices=index,
        inputs={k: v[index] for k, v in split.inputs.items()},
        targets={k: v[index] for k, v in split.targets.items()},
        sample_weight=None if weights is None else weights[index],
    )


def evaluate_split(executor: StepExecutor, split: Split, metrics: MetricSet, batch_size: int, prefix: str = "") -> dict[str, float]:
    """Losses and metrics of ``split`` in inference mode: rows in order, batches of ``batch_size``."""
    metrics.reset()
    for index in SequentialBatches(split.n, batch_size).batches():
        batch = gather(split, index)
        result = executor.evaluate_step(batch)
        metrics.update(result.losses, result.outputs, batch.targets, batch.size)
    return metrics.result(prefix)


class Trainer:
    """Trains one model on one data set; see the module docstring for the exact procedure."""

    def __init__(
        self,
        model: CompiledModel,
        ir: ModelIR,
        datasets: Datasets,
        *,
        epochs: int | None = None,
        callbacks: Iterable[Callback] = (),
        progress: Progress | None = None,
        start_epoch: int = 0,
        seed: int | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        executor: StepExecutor | None = None,
        batch_source: BatchSource | None = None,
        run_dir: Path | None = None,
        artifact_suffix: str | None = None,
        checkpoints: CheckpointWriter | None = None,
        resume: Checkpoint | None = None,
        phases: Phases | None = None,
        resident: bool = True,
    ) -> None:
        if ir.training is None:
            raise RunnerError(f"model {ir.name!r} has no [training] table: nothing says how to train it")
        training = ir.training
        self.model = model
        self.ir = ir
        self.datasets = datasets
        self.epochs = int(training.epochs if epochs is None else epochs)
        self.resume = resume
        self.checkpoints = checkpoints
        self.phases = phases
        if resume is not None:
            start_epoch = resume.state.epoch
        if start_epoch < 0 or start_epoch > self.epochs:
            raise RunnerError(f"start_epoch must be in [0, {self.epochs}] (received {start_epoch})")
        self.start_epoch = int(start_epoch)
        self.seed = int(training.seed if seed is None else seed)
        self.batch_size = int(batch_size or training.batch_size)
        self.validation_batch_size = int(validation_batch_size or training.validation_batch_size or self.batch_size)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.artifact_suffix = artifact_suffix

        for part, split in (("training", datasets.train), ("validation", datasets.validation), ("test", datasets.test)):
            if split is not None:
                check_split(ir, split, part)
        if datasets.train.n == 0:
            raise RunnerError("the training data has no rows")
        self.train_weights = datasets.train.sample_weight
        if training.class_weight:
            cw = class_sample_weights(ir, datasets.train, training.class_weight)
            self.train_weights = cw if self.train_weights is None else (self.train_weights * cw).astype(np.float32)

        self.batch_source = batch_source or ShuffledBatches(datasets.train.n, self.batch_size, self.seed)
        self.steps_per_epoch = self.batch_source.steps()
        # the data resident in the backend (dnnc.runner.resident) unless another executor runs the steps
        self.residency = open_residency(model, ir, enabled=resident and executor is None)
        self.executor = executor or LocalExecutor(model)
        self.dropout = DropoutMasks(ir, self.seed) if training.strict_parity else None
        lr_spec = training.optimizer.get("learning_rate")
        if lr_spec is None:
            raise RunnerError(f"the optimizer {training.optimizer.get('type')!r} has no learning_rate in the IR")
        self.history = History()
        self.callbacks = CallbackList(callbacks)
        # Like Keras, `learning_rate` is in the logs only when a callback changes it (reduce_lr_on_plateau);
        # it is put there before any callback sees the logs, so loggers listed before it record it too.
        self._logs_learning_rate = self.callbacks.changes_learning_rate
        self.progress = progress or QuietProgress()
        self.train_metrics = MetricSet(ir)
        self._eval_metrics = MetricSet(ir)
        self.context = TrainingContext(
            ir=ir, model=model, lr_spec=lr_spec, history_keys=self._history_keys(), epochs=self.epochs,
            start_epoch=self.start_epoch, steps_per_epoch=self.steps_per_epoch, batch_size=self.batch_size,
            seed=self.seed, strict_parity=self.dropout is not None, train_rows=datasets.train.n,
            validation_rows=None if datasets.validation is None else datasets.validation.n,
            test_rows=None if datasets.test is None else datasets.test.n,
            run_dir=self.run_dir, artifact_suffix=artifact_suffix, report=self.progress.message,
            state=None if resume is None else TrainingState.from_dict(resume.state.to_dict()),
            unfreeze=self._unfreeze, resumed=resume is not None, rows=copied_rows(datasets),
        )
        self.state = self.context.state
        if resume is not None:
            self._check_resumable(resume)

    def _history_keys(self) -> list[str]:
        """Every key an epoch's logs will hold."""
        keys = self.train_metrics.keys()
        if self.datasets.validation is not None and self.datasets.validation.n > 0:
            keys = keys + ["val_" + k for k in self.train_metrics.keys()]
        if self._logs_learning_rate:
            keys.append("learning_rate")
        return keys

    # -- evaluation -------------------------------------------------------------
    def evaluate(self, split: Split, prefix: str = "val_", batch_size: int | None = None) -> dict[str, float]:
        """Inference-mode losses and metrics of ``split`` (rows in order), keys prefixed."""
        size = batch_size or self.validation_batch_size
        name = None if self.residency is None else self.residency.name_of(split)
        if name is not None:
            batches = list(SequentialBatches(split.n, size).batches())
            return self.residency.evaluate(name, split, self._eval_metrics, batches, prefix)
        return evaluate_split(self.executor, split, self._eval_metrics, size, prefix)

    def _training_metrics(self) -> MetricSet:
        """The epoch's training metrics so far (read back from the backend on the resident path)."""
        return self.train_metrics if self.residency is None else self.residency.sync(self.train_metrics)

    # -- unfreezing, checkpoints, resuming -----------------------------------------
    def _unfreeze(self, layers: list[str]) -> None:
        """``context.unfreeze``: the model adopts the IR with `layers` trainable; the state records them."""
        current = self.model.ir
        names = {n.name for n in current.nodes}
        unknown = [n for n in layers if n not in names]
        trained = [n for n in layers if n in names and current.node(n).trainable]
        if unknown or trained:
            raise RunnerError(f"cannot unfreeze {', '.join(map(repr, unknown + trained))}: "
                              + ("not a layer of the model" if unknown else "not frozen")
                              + f" (frozen layers: {', '.join(frozen_nodes(current)) or 'none'})")
        self._set_trainable(layers)
        self.state.unfrozen.extend(layers)

    def _set_trainable(self, layers: list[str]) -> None:
        require_method(self.model, "set_trainable")(with_trainable(self.model.ir, {n: True for n in layers}))

    def _check_resumable(self, ckpt: Checkpoint) -> None:
        facts = self._facts()
        if ckpt.ir_sha256 != ir_digest(self.ir):
            raise RunnerError("the checkpoint belongs to another model: its IR differs from this run's ir.json")
        if ckpt.facts != facts:
            changed = ", ".join(f"{k} {ckpt.facts.get(k)} → {v}" for k, v in facts.items() if ckpt.facts.get(k) != v)
            raise RunnerError(f"the checkpoint cannot continue this run: the batch order would differ ({changed})")
        if ckpt.step_in_epoch and ckpt.state.epoch >= self.epochs:
            raise RunnerError(f"the checkpoint is in epoch {ckpt.state.epoch + 1}, but the run has {self.epochs} epochs")

    def _facts(self) -> dict[str, int]:
        return {"seed": self.seed, "batch_size": self.batch_size, "steps_per_epoch": self.steps_per_epoch,
                "train_rows": self.datasets.train.n}

    def _restore_model(self, ckpt: Checkpoint) -> None:
        """Weights, unfrozen layers, optimizer state and (same backend only) the dropout generators."""
        model = self.model
        model.set_weights(ckpt.weights)
        if ckpt.state.unfrozen:
            self._set_trainable(list(ckpt.state.unfrozen))
        if ckpt.optimizer:
            require_method(model, "set_optimizer_state")(ckpt.optimizer)
        if not self._draws_dropout():
            return
        same = ckpt.backend == getattr(model, "backend_name", None)
        # another kind of device has another generator (torch: CPU vs CUDA), with other state keys
        same_kind = same and ckpt.random is not None and set(ckpt.random) == set(require_method(model, "random_state")())
        if same_kind:
            require_method(model, "set_random_state")(ckpt.random)
        else:
            why = (f"the checkpoint was written by {ckpt.backend!r}" if not same
                   else "the checkpoint holds no generator state" if ckpt.random is None
                   else "the checkpoint's generator is of another device")
            self.progress.message(f"dropout masks after the checkpoint differ from the uninterrupted run's: {why} "
                                  "(with training.strict_parity = true dnnc draws them itself)", "warning")

    def _draws_dropout(self) -> bool:
        """Whether the backend's own generator draws dropout masks (dropout without strict parity)."""
        from ..compiler.dropout_sites import dropout_sites

        return self.dropout is None and any(rate > 0 for _, rate in dropout_sites(self.ir).values())

    def _write_checkpoint(self, epoch: int, step_in_epoch: int, seconds: float) -> None:
        """The resumable state at (`epoch` to run, `step_in_epoch` batches of it done)."""
        model = self.model
        state = TrainingState.from_dict(self.state.to_dict())
        state.epoch = epoch
        self.history.steps = self.state.global_step
        random_state = getattr(model, "random_state", None)
        self.checkpoints.write(Checkpoint(
            backend=getattr(model, "backend_name", "?"), ir_sha256=ir_digest(self.ir), state=state,
            step_in_epoch=step_in_epoch, epoch_seconds=seconds, history=self.history.to_dict(), facts=self._facts(),
            weights=model.get_weights(), optimizer=model.optimizer_state(),
            random=random_state() if random_state is not None and self._draws_dropout() else None,
            metrics=self._training_metrics().state() if step_in_epoch else None, callbacks=self.callbacks.states(),
        ))

    # -- training ---------------------------------------------------------------
    def fit(self) -> History:
        """Run the epochs, then the test evaluation; return the history (test metrics in ``history.test``)."""
        train = self.datasets.train
        self.callbacks.bind(self.context)
        resume = self.resume
        if resume is not None:
            self._restore_model(resume)
        prepare = getattr(self.executor, "prepare", None)
        if prepare is not None:
            with timed(self.phases, "optimizer_build"):
                prepare()
        if self.residency is not None:
            with timed(self.phases, "data_to_backend"):
                self._bind_splits()
        self._warm_up()
        try:
            with timed(self.phases, "epochs"):  # the epochs with their callbacks, an exception included
                self.progress.train_begin(self.context)
                self.callbacks.on_train_begin()
                if resume is not None:
                    self.callbacks.restore(resume.callbacks)
                    self.history = History.from_dict(resume.history)
                    self.progress.message(f"resuming from the checkpoint of {resume.position(self.steps_per_epoch)}, "
                                          f"written {resume.written} by {resume.backend}")
                logs: dict[str, float] = self.history.last
                for epoch in range(self.start_epoch, self.epochs):
                    if self.state.stop_reason is not None:
                        break  # the checkpoint was written when training stopped
                    partial = resume is not None and epoch == resume.state.epoch and resume.step_in_epoch > 0
                    logs = self._run_epoch(epoch, train, resume if partial else None)
                    stopped = self.state.stop_reason is not None
                    if stopped:
                        self.history.stopped_epoch = epoch
                        self.history.stop_reason = self.state.stop_reason
                    if self.checkpoints is not None and self.checkpoints.epoch_due(epoch, stopped or epoch == self.epochs - 1):
                        self._write_checkpoint(epoch + 1, 0, 0.0)
                self.history.steps = self.state.global_step
                self.callbacks.on_train_end(logs)
            test_logs: dict[str, float] = {}
            if self.datasets.test is not None and self.datasets.test.n > 0:
                with timed(self.phases, "test"):
                    test_logs = self.evaluate(self.datasets.test, prefix="test_")
                self.history.test = test_logs
            self.callbacks.on_test_end(test_logs)
            self.progress.train_end(self.history)
        finally:
            self.callbacks.close()
            self.progress.close()
        return self.history

    def _warm_up(self) -> None:
        """A compiled step (training.compile) is compiled now, for each batch size of the epochs, on the first
        rows of the training split, so the epochs do not pay for it; the backend leaves the model unchanged."""
        warm_up = getattr(self.model, "warm_up_training", None)
        train = self.datasets.train
        if warm_up is None or not self.ir.training.compile or train.n == 0:
            return
        sizes = sorted({min(self.batch_size, train.n), train.n % self.batch_size} - {0}, reverse=True)
        batches = []
        for size in sizes:
            batch = gather(train, np.arange(size), self.train_weights)
            batches.append((batch.inputs, batch.targets, batch.sample_weight))
        with timed(self.phases, "step_compile"):
            warm_up(batches)

    def _bind_splits(self) -> None:
        residency, data = self.residency, self.datasets
        residency.bind("train", data.train, self.train_weights)
        for name, split in (("validation", data.validation), ("test", data.test)):
            if split is not None and split.n > 0:
                residency.bind(name, split, split.sample_weight)

    def _run_epoch(self, epoch: int, train: Split, resume: Checkpoint | None = None) -> dict[str, float]:
        """One epoch; with `resume` (a mid-epoch checkpoint of this epoch) it continues after the done batches."""
        done = resume.step_in_epoch if resume is not None else 0
        started = time.perf_counter() - (resume.epoch_seconds if resume is not None else 0.0)
        state, context = self.state, self.context
        state.epoch = epoch
        metrics, residency = self.train_metrics, self.residency
        if resume is not None:
            metrics.load_state(resume.metrics)
            if residency is not None:
                residency.load(resume.metrics)
        else:
            metrics.reset()
            if residency is not None:
                residency.reset()
            self.callbacks.on_epoch_begin(epoch)
        self.progress.epoch_begin(epoch, self.steps_per_epoch)
        if residency is not None:
            self._run_resident_steps(epoch, done, started)
        else:
            self._run_steps(epoch, train, done, started)
        logs = self._training_metrics().result()
        if context.has_validation:
            logs.update(self.evaluate(self.datasets.validation, prefix="val_"))
        if self._logs_learning_rate:
            logs["learning_rate"] = context.learning_rate()
        if self.callbacks.on_epoch_end(epoch, logs):
            context.request_stop("callback")
        seconds = time.perf_counter() - started
        self.history.append(epoch, logs, seconds)
        self.progress.epoch_end(epoch, logs, seconds)
        return logs

    def _run_steps(self, epoch: int, train: Split, done: int, started: float) -> None:
        """The epoch's steps after the first `done`, one batch gathered in NumPy and one backend call each."""
        state, context, metrics = self.state, self.context, self.train_metrics
        per_batch = self.callbacks.wants_batches
        checkpoints = self.checkpoints
        for step, index in enumerate(self.batch_source.batches(epoch)):
            if step < done:
                continue
            batch = gather(train, index, self.train_weights)
            masks = self.dropout.for_step(state.global_step, batch.size) if self.dropout else None
            result = self.executor.train_step(batch, learning_rate=context.learning_rate(), dropout_masks=masks)
            metrics.update(result.losses, result.outputs, batch.targets, batch.size)
            state.global_step += 1
            if per_batch and self.callbacks.on_batch_end(step, result.losses):
                context.request_stop("callback")
            self.progress.batch_end(step + 1, metrics.result)
            if state.stop_reason is not None:
                break
            if checkpoints is not None and checkpoints.step_due(state.global_step):
                self._write_checkpoint(epoch, step + 1, time.perf_counter() - started)

    def _run_resident_steps(self, epoch: int, done: int, started: float) -> None:
        """The epoch's steps after the first `done`, in chunks of rows the backend gathers itself
        (:mod:`dnnc.runner.resident`); callbacks see every step's losses after its chunk."""
        state, context, residency = self.state, self.context, self.residency
        callbacks, checkpoints = self.callbacks, self.checkpoints
        per_batch = callbacks.wants_batches
        every = checkpoints.config.every_steps if checkpoints is not None else None
        batches = list(self.batch_source.batches(epoch))[done:]
        step = done
        for chunk in residency.chunks(batches, state.global_step, every, callbacks.acts_on_batches):
            first = state.global_step
            rates = [context.learning_rate(first + k) for k in range(len(chunk))]
            masks = None if self.dropout is None else [self.dropout.for_step(first + k, index.shape[0])
                                                       for k, index in enumerate(chunk)]
            losses = residency.train_steps(chunk, rates, masks)
            for row in losses:
                state.global_step += 1
                if per_batch and callbacks.on_batch_end(step, named_losses(residency.plan.loss_keys, row)):
                    context.request_stop("callback")
                step += 1
            self.progress.batch_end(step, lambda: self._training_metrics().result())
            if state.stop_reason is not None:
                break
            if checkpoints is not None and checkpoints.step_due(state.global_step):
                self._write_checkpoint(epoch, step, time.perf_counter() - started)


def train(
    model: CompiledModel,
    ir: ModelIR,
    datasets: Datasets,
    *,
    epochs: int | None = None,
    callbacks: Iterable[Callback] = (),
    progress: Progress | None = None,
    start_epoch: int = 0,
    **options,
) -> History:
    """Train ``model`` (built from ``ir``) on ``datasets``; see :class:`Trainer` for ``options``."""
    return Trainer(
        model, ir, datasets, epochs=epochs, callbacks=callbacks, progress=progress, start_epoch=start_epoch, **options
    ).fit()


__all__ = ["Trainer", "evaluate_split", "gather", "train"]
