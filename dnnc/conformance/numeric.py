"""The numeric level: every backend judged against the float64 oracle, element by element.

The judge is :mod:`dnnc.reference` in bounded mode: the IR's formulas in
float64, each value carrying B, a bound on how far any float32 evaluation of
that value can land from it (:mod:`dnnc.reference.arith`).  A backend passes a
check when every element satisfies ``|backend − oracle| ≤ factor·B``
(:mod:`.measures`; factor 1 by default).  Each backend is judged on its own,
so a failure names the backend at fault; the first backend of ``--backends``
is judged like the others.

On the batches of :mod:`.batches` (the spec's data in the runner's order, or
seeded synthetic batches), from ``initial_weights(ir, seed)``:

Single-batch checks (weights reset before each call)
    inference outputs — on the first batch straight after ``build``, so a
    model that does not use the weights it was built with fails; training-mode
    outputs with dnnc's dropout masks; the batch-norm moving statistics after
    that pass; the losses and the gradient of the total loss for every
    trainable parameter (``loss_and_gradients``).

The trajectory
    ``trajectory_steps`` calls of ``train_step`` with the scheduled learning
    rate and the masks of each step, then :data:`~.batches.EPOCH_END_STEPS`
    more over a 1.5-batch subset (every other batch is an epoch's last, partial
    batch).  Each step is judged **locally**: from the backend's own weights
    before the step, the oracle computes the step's losses and gradients and
    its optimizer (:class:`dnnc.reference.optimizer.OracleOptimizer`, whose
    state follows the backend and carries its own bound) predicts the weights
    after the step; the backend's reported losses and its weights after the
    step must lie within the bounds.  Judging each step from the backend's own
    state is what makes the criterion exact about float32: the differences a
    chaotic network (ReLU, N(0, 1) weights) or Adam (a near-ε gradient turned
    into a full step) amplifies over many steps are never compared, while
    every step's own deviation is, however the trajectory has drifted.  Each
    parameter and loss reports its worst step.

Ops the oracle does not implement (plugin ops) make the level a skipped check
naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from ..compiler.ir import ModelIR
from . import measures as M
from .batches import EPOCH_END_STEPS, NumericBatch, data_batches, epoch_end_batches, synthetic_batches
from .options import ConformOptions, ProgressSink, unsupported_check
from .results import FAIL, SKIP, Check, LevelResult

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend, CompiledModel
    from ..reference import Reference
    from ..runner.datasets.containers import Split

LEVEL = "numeric"
Arrays = Mapping[str, np.ndarray]

CRITERION = ("every element: |backend − float64 oracle| ≤ factor·B, B = the element's float32 error bound "
             "(dnnc.reference); the trajectory judged step by step from the backend's own weights")


def numeric_batches(ir: ModelIR, split: "Split | None", options: ConformOptions, seed: int
                    ) -> tuple[list[NumericBatch], list[NumericBatch], str]:
    """(single-check batches, trajectory, a sentence saying what they are) from the training split, or
    synthetic ones when the IR has no data (`split` None)."""
    if split is not None:
        batches = list(data_batches(ir, split, options.numeric_batches, seed))
        trajectory = []
        if ir.training is not None:
            trajectory = list(data_batches(ir, split, options.trajectory_steps, seed))
            trajectory += epoch_end_batches(ir, split, seed, first_step=options.trajectory_steps)
        note = (f"the first {len(batches)} training batches ({batches[0].size if batches else 0} rows) of the "
                f"runner's batch order over {split.n} training rows, with strict-parity dropout masks; the "
                f"trajectory: {options.trajectory_steps} steps, then {EPOCH_END_STEPS} over the first 1.5 batches "
                "of rows (two epochs, each ending in a partial batch)")
        return batches, trajectory, note
    batches = synthetic_batches(ir, options.numeric_batches, seed)
    trajectory = (synthetic_batches(ir, options.trajectory_steps, seed + 1000, partial_last=True)
                  if ir.training is not None else [])
    return batches, trajectory, "the model has no [data] section: seeded synthetic batches (the trajectory's last one partial)"


def has_loss(ir: ModelIR) -> bool:
    return ir.training is not None and any(o.loss is not None for o in ir.outputs)


@dataclass
class OracleBatch:
    """The oracle's values on one batch from the initial weights (shared by every backend)."""

    inference: dict
    training: object  # Evaluation of the training-mode pass (outputs, moving statistics)
    losses: object | None  # Evaluation with losses and gradients (None without a loss)


def oracle_batch(ir: ModelIR, oracle: "Reference", weights: Arrays, batch: NumericBatch) -> OracleBatch:
    masks = batch.masks or None
    inference = oracle.forward(weights, batch.inputs, training=False).outputs
    training = oracle.forward(weights, batch.inputs, training=True, dropout_masks=masks)
    losses = None
    if has_loss(ir):
        losses = oracle.loss_and_gradients(weights, batch.inputs, batch.targets, sample_weight=batch.sample_weight,
                                           training=True, dropout_masks=masks)
    return OracleBatch(inference, training, losses)


def single_batch_checks(ir: ModelIR, model: "CompiledModel", weights: Arrays, batch: NumericBatch, want: OracleBatch,
                        *, batch_number: int | None = None, options: ConformOptions = ConformOptions(),
                        as_built: bool = False, label: str | None = None) -> list[Check]:
    """Outputs (both modes), moving statistics, losses and gradients of one batch against the oracle.
    With `as_built` the inference pass runs on the model as it was built (no weights set first).  The checks
    name the backend `label` (``torch@cuda``), by default the model's ``backend_name``."""
    name, factor = label or model.backend_name, options.numeric_factor
    masks = batch.masks or None
    checks: list[Check] = []

    def judge(what: str, target: str, value, expected) -> None:
        checks.append(M.judge(LEVEL, what, name, target, value, expected, factor=factor, batch=batch_number))

    if not as_built:
        model.set_weights(weights)
    out = model.forward(batch.inputs, training=False)
    for o in ir.outputs:
        judge("inference output", o.name, out[o.name], want.inference[o.name])
    model.set_weights(weights)
    out = model.forward(batch.inputs, training=True, dropout_masks=masks)
    for o in ir.outputs:
        judge("training-mode output", o.name, out[o.name], want.training.outputs[o.name])
    if want.training.moving:
        after = model.get_weights()
        for key, expected in want.training.moving.items():
            judge("moving statistics", key, after[key], expected)
    model.set_weights(weights)
    if want.losses is None:
        checks.append(Check(LEVEL, "loss", name, M.REFERENCE, SKIP, detail="no output has a loss", batch=batch_number))
        return checks
    losses, grads = model.loss_and_gradients(batch.inputs, batch.targets, sample_weight=batch.sample_weight,
                                             training=True, dropout_masks=masks)
    for key, expected in want.losses.losses.items():
        if key in losses:
            judge("loss", key, losses[key], expected)
        else:
            checks.append(M.judge_missing(LEVEL, "loss", name, key, batch=batch_number))
    for key, expected in want.losses.gradients.items():
        if key in grads:
            judge("gradient", key, grads[key], expected)
        else:
            checks.append(M.judge_missing(LEVEL, "gradient", name, key, batch=batch_number))
    model.set_weights(weights)
    return checks


def trajectory_checks(ir: ModelIR, oracle: "Reference", model: "CompiledModel", weights: Arrays,
                      batches: Sequence[NumericBatch], options: ConformOptions = ConformOptions(),
                      on_step: Callable[[int], None] | None = None, label: str | None = None) -> list[Check]:
    """`len(batches)` train_steps from `weights`, each judged from the backend's weights before it; the worst
    step of every loss and every parameter."""
    from ..numerics.schedules import learning_rate_at
    from ..reference.optimizer import OracleOptimizer

    name, factor = label or model.backend_name, options.numeric_factor
    lr_spec = ir.training.optimizer["learning_rate"]
    optimizer = OracleOptimizer(ir.training.optimizer)
    trainable = [key for key, _, p in ir.weight_specs() if p.trainable]
    worst: dict[tuple[str, str], Check] = {}

    def keep(check: Check) -> None:
        key = (check.name, check.target.split("[", 1)[0])
        old = worst.get(key)
        if old is None or (old.status != FAIL and (check.status == FAIL or (check.error or 0.0) > (old.error or 0.0))):
            worst[key] = check

    model.set_weights(weights)
    for k, batch in enumerate(batches):
        before = model.get_weights()
        masks = batch.masks or None
        want = oracle.loss_and_gradients(before, batch.inputs, batch.targets, sample_weight=batch.sample_weight,
                                         training=True, dropout_masks=masks)
        lr = learning_rate_at(lr_spec, k)
        predicted = dict(want.moving)
        predicted.update(optimizer.step({key: before[key] for key in trainable}, want.gradients, lr))
        result = model.train_step(batch.inputs, batch.targets, learning_rate=lr, sample_weight=batch.sample_weight,
                                  dropout_masks=masks)
        after = model.get_weights()
        for key, expected in want.losses.items():
            if key in result.losses:
                keep(M.judge(LEVEL, "trajectory loss", name, key, result.losses[key], expected, factor=factor,
                             step=k + 1))
            else:
                keep(M.judge_missing(LEVEL, "trajectory loss", name, key, step=k + 1))
        for key, _, _ in ir.weight_specs():
            keep(M.judge(LEVEL, "trajectory weights", name, key, after[key], predicted[key], factor=factor,
                         step=k + 1, detail=f"batch of {batch.size} rows, learning rate {lr:.6g}"))
        if on_step is not None:
            on_step(k)
    order = {key: i for i, (key, _, _) in enumerate(ir.weight_specs())}
    return sorted(worst.values(), key=lambda c: (c.name != "trajectory loss", order.get(c.target.split("[", 1)[0], -1)))


def numeric_level(ir: ModelIR, backends: Sequence["Backend"], weights: Arrays, batches: Sequence[NumericBatch],
                  trajectory: Sequence[NumericBatch], options: ConformOptions = ConformOptions(),
                  progress: ProgressSink | None = None, *, data_note: str = "") -> LevelResult:
    """Every backend against the oracle: single-batch checks on `batches`, then the `trajectory`."""
    from ..reference import Reference, unsupported_ops

    progress = progress or ProgressSink()
    result = LevelResult(LEVEL)
    steps = len(trajectory) if has_loss(ir) else 0
    result.data.update({
        "reference": "float64 oracle (dnnc.reference)", "criterion": CRITERION, "factor": options.numeric_factor,
        "data": data_note, "batches": len(batches), "batch_size": batches[0].size if batches else 0,
        "trajectory_steps": steps, "trajectory_batch_sizes": sorted({b.size for b in trajectory}),
    })
    missing = unsupported_ops(ir)
    if missing:
        result.checks.append(Check(LEVEL, "oracle", "oracle", M.REFERENCE, SKIP, ", ".join(missing),
                                   detail=f"the oracle has no implementation of op{'s' if len(missing) > 1 else ''} "
                                          f"{', '.join(missing)} (plugin ops): the numeric level cannot judge them"))
        return result
    oracle = Reference(ir, "bounded")
    want = [oracle_batch(ir, oracle, weights, b) for b in batches]
    per_backend = len(batches) + steps
    task = progress.start(f"numeric: {len(batches)} batches + {steps} steps, each backend vs the float64 oracle",
                          total=per_backend * len(backends))
    for backend in backends:
        skip = unsupported_check(LEVEL, backend, M.REFERENCE, ir, options.unsupported)
        if skip is not None:
            result.checks.append(skip)
            progress.advance(task, per_backend)
            continue
        try:
            model = backend.build(ir, weights)
        except Exception as exc:
            result.checks.append(Check(LEVEL, "build", backend.name, M.REFERENCE, FAIL,
                                       detail=f"building the model raised {type(exc).__name__}: {exc}"))
            progress.advance(task, per_backend)
            continue
        for i, (batch, expected) in enumerate(zip(batches, want)):
            result.checks.extend(_guarded(
                lambda: single_batch_checks(ir, model, weights, batch, expected, batch_number=i + 1, options=options,
                                            as_built=i == 0, label=backend.name),
                f"single-batch checks on batch {i + 1}", backend.name))
            progress.advance(task)
        if not steps:
            if trajectory:
                result.checks.append(Check(LEVEL, "trajectory", backend.name, M.REFERENCE, SKIP,
                                           detail="no output has a loss: nothing to train"))
            continue
        result.checks.extend(_guarded(
            lambda: trajectory_checks(ir, oracle, model, weights, trajectory, options, lambda k: progress.advance(task),
                                      label=backend.name),
            "trajectory", backend.name))
    progress.finish(task)
    return result


def _guarded(fn: Callable[[], list[Check]], what: str, backend: str) -> list[Check]:
    try:
        return fn()
    except Exception as exc:
        return [Check(LEVEL, what, backend, M.REFERENCE, FAIL, detail=f"raised {type(exc).__name__}: {exc}")]
