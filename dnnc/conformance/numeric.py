"""The numeric level: the same numbers from the same weights, batch by batch and step by step.

Every backend is compared with the reference (the first backend), both built
from ``initial_weights(ir, seed)``, on real batches of the spec's data — the
first training batches of epoch 0 in the runner's batch order
(:class:`~dnnc.runner.sampling.ShuffledBatches`), with the runner's
strict-parity dropout masks of those global steps (:mod:`dnnc.runner.dropout`)
and the data's sample/class weights.  An IR without data (the kit's cases)
uses the equivalence harness's seeded synthetic batches.

Single-batch checks (each batch, weights reset before each call):
inference outputs; training-mode outputs with the masks; batch-norm moving
statistics after that training-mode pass; the losses and every gradient of
the total loss (``loss_and_gradients``, training mode, same masks).

The trajectory: ``trajectory_steps`` calls of ``train_step`` on consecutive
batches with the scheduled rate ``learning_rate_at(optimizer.learning_rate, k)``
and the masks of step k, comparing every step's losses and, after every step,
every weight array; each parameter reports its worst step.

Norms and tolerances: :mod:`dnnc.conformance.measures`.  When a trajectory
check fails, the report adds the **noise floor** of that quantity: how far the
reference drifts from itself over the same steps when restarted from weights
perturbed by one float32 ulp — a difference at that level is float32
sensitivity of the model (large logits, chaotic training), not a semantic
difference between the backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

import numpy as np

from ..compiler.ir import ModelIR
from . import measures as M
from .options import ConformOptions, ProgressSink, unsupported_check
from .results import FAIL, SKIP, Check, LevelResult

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend, CompiledModel
    from ..runner.datasets.containers import Split

LEVEL = "numeric"
Arrays = Mapping[str, np.ndarray]


@dataclass
class NumericBatch:
    """One batch with everything a step needs."""

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    sample_weight: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])


# ---------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------

def _train_weights(ir: ModelIR, split: "Split") -> np.ndarray | None:
    weights = split.sample_weight
    if ir.training is not None and ir.training.class_weight:
        from ..runner.data_checks import class_sample_weights

        cw = class_sample_weights(ir, split, ir.training.class_weight)
        weights = cw if weights is None else (weights * cw).astype(np.float32)
    return weights


def data_batches(ir: ModelIR, split: "Split", count: int, seed: int) -> Iterator[NumericBatch]:
    """The first `count` training batches in the runner's order (epoch 0, then epoch 1, …) with the
    strict-parity dropout masks of those global steps."""
    from ..runner.dropout import DropoutMasks
    from ..runner.sampling import ShuffledBatches

    batch_size = ir.training.batch_size if ir.training is not None else 32
    source = ShuffledBatches(split.n, batch_size, seed)
    masks = DropoutMasks(ir, seed)
    weights = _train_weights(ir, split)
    step, epoch = 0, 0
    while step < count:
        for index in source.batches(epoch):
            if step >= count:
                return
            part = split.take(index)
            yield NumericBatch(dict(part.inputs), dict(part.targets), None if weights is None else weights[index],
                               masks.for_step(step, len(index)) if masks else {})
            step += 1
        epoch += 1


def synthetic_batches(ir: ModelIR, count: int, seed: int, batch_size: int = 8) -> list[NumericBatch]:
    """The equivalence harness's seeded batches (inputs, targets and masks), one seed per batch."""
    from .equivalence import make_batch

    out = []
    for i in range(count):
        inputs, targets, masks = make_batch(ir, batch_size, seed + i)
        out.append(NumericBatch(inputs, targets, None, masks))
    return out


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

def has_loss(ir: ModelIR) -> bool:
    return ir.training is not None and any(o.loss is not None for o in ir.outputs)


def single_batch_checks(ir: ModelIR, ref: "CompiledModel", other: "CompiledModel", weights: Arrays,
                        batch: NumericBatch, *, batch_number: int | None = None,
                        options: ConformOptions = ConformOptions()) -> list[Check]:
    """Outputs (both modes), moving statistics, losses and gradients of one batch."""
    a_name, b_name = other.backend_name, ref.backend_name
    cancelled = M.cancelled_biases(ir)
    masks = batch.masks or None
    checks: list[Check] = []

    def arrays(name: str, target: str, value, expected, *, rtol=M.OUTPUT_RTOL, floor=1.0, norm=M.SCALED, detail=""):
        checks.append(M.compare_array(LEVEL, name, a_name, b_name, target, value, expected, rtol=rtol, floor=floor,
                                      norm=norm, batch=batch_number, detail=detail))

    def reset() -> None:
        ref.set_weights(weights)
        other.set_weights(weights)

    reset()
    out_b, out_a = ref.forward(batch.inputs, training=False), other.forward(batch.inputs, training=False)
    for o in ir.outputs:
        arrays("inference output", o.name, out_a[o.name], out_b[o.name])
    reset()
    out_b = ref.forward(batch.inputs, training=True, dropout_masks=masks)
    out_a = other.forward(batch.inputs, training=True, dropout_masks=masks)
    for o in ir.outputs:
        arrays("training-mode output", o.name, out_a[o.name], out_b[o.name])
    stat_keys = [key for key, _, p in ir.weight_specs() if not p.trainable]
    if stat_keys:
        wb, wa = ref.get_weights(), other.get_weights()
        for key in stat_keys:
            arrays("moving statistics", key, wa[key], wb[key])
    if not has_loss(ir):
        checks.append(Check(LEVEL, "loss", a_name, b_name, SKIP, detail="no output has a loss", batch=batch_number))
        reset()
        return checks
    reset()
    kw = dict(sample_weight=batch.sample_weight, training=True, dropout_masks=masks)
    losses_b, grads_b = ref.loss_and_gradients(batch.inputs, batch.targets, **kw)
    losses_a, grads_a = other.loss_and_gradients(batch.inputs, batch.targets, **kw)
    for key, value in losses_b.items():
        checks.append(M.compare_loss(LEVEL, "loss", a_name, b_name, key, losses_a.get(key, float("nan")), value,
                                     rtol=options.loss_rtol, batch=batch_number))
    for key, node, p in ir.weight_specs():
        if not p.trainable:
            continue
        if key not in grads_a or key not in grads_b:
            checks.append(Check(LEVEL, "gradient", a_name, b_name, FAIL, key, batch=batch_number,
                                detail=f"{a_name if key not in grads_a else b_name} gives no gradient for it"))
        elif key in cancelled:
            kernel = grads_b.get(f"{node.name}/kernel")
            floor = max(float(np.abs(kernel).max()) if kernel is not None and np.size(kernel) else 0.0, M.GRADIENT_FLOOR)
            arrays("gradient", key, grads_a[key], grads_b[key], rtol=M.GRADIENT_RTOL, floor=floor,
                   norm=M.gradient_norm(floor),
                   detail=f"true gradient 0 (cancelled by {cancelled[key]}): measured against the kernel gradient's scale")
        else:
            arrays("gradient", key, grads_a[key], grads_b[key], rtol=M.GRADIENT_RTOL, floor=M.GRADIENT_FLOOR,
                   norm=M.gradient_norm())
    reset()
    return checks


@dataclass
class Trajectory:
    """Per-step losses and weights of one model along the trajectory."""

    losses: list[dict[str, float]] = field(default_factory=list)
    weights: list[dict[str, np.ndarray]] = field(default_factory=list)


def run_trajectory(ir: ModelIR, model: "CompiledModel", batches: Sequence[NumericBatch],
                   on_step: Callable[[int], None] | None = None) -> Trajectory:
    """`len(batches)` optimizer steps from the model's current weights with the scheduled learning rates."""
    from ..numerics.schedules import learning_rate_at

    lr_spec = ir.training.optimizer.get("learning_rate")
    out = Trajectory()
    for k, batch in enumerate(batches):
        result = model.train_step(batch.inputs, batch.targets, learning_rate=learning_rate_at(lr_spec, k),
                                  sample_weight=batch.sample_weight, dropout_masks=batch.masks or None)
        out.losses.append(dict(result.losses))
        out.weights.append(model.get_weights())
        if on_step is not None:
            on_step(k)
    return out


def ulp_perturbed(weights: Arrays, seed: int) -> dict[str, np.ndarray]:
    """Every weight moved by one float32 ulp, up or down at random (zeros stay zero)."""
    rng = np.random.default_rng([seed, 0x0111])
    out = {}
    for key, w in weights.items():
        w = np.asarray(w, dtype=np.float32)
        direction = np.where(rng.random(w.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
        out[key] = np.where(w == 0, w, np.nextafter(w, direction)).astype(np.float32)
    return out


def bias_ema(ir: ModelIR, traj: Trajectory, initial: Arrays, bias: str, moving_mean: str) -> list[np.ndarray]:
    """After each step, the part of `moving_mean` contributed by the cancelled `bias`.

    Step t's training-mode pass adds ``(1 − momentum)·(batch mean of x·W + b_{t−1})``
    to the moving mean, b_{t−1} being the bias before that step's update; so
    that part is c_t = momentum·c_{t−1} + (1 − momentum)·b_{t−1}, c_0 = 0.
    """
    momentum = ir.node(moving_mean.split("/")[0]).attrs.momentum
    c = np.zeros(np.shape(initial[bias]), dtype=np.float64)
    previous = np.asarray(initial[bias], dtype=np.float64)
    out = []
    for weights in traj.weights:
        c = momentum * c + (1.0 - momentum) * previous
        out.append(c.copy())
        previous = np.asarray(weights[bias], dtype=np.float64)
    return out


def trajectory_checks(ir: ModelIR, ref_traj: Trajectory, other_traj: Trajectory, a_name: str, b_name: str,
                      options: ConformOptions, initial: Arrays) -> list[Check]:
    """The worst step of each loss and each weight array (cancelled biases: skipped checks; the moving
    mean of a batch norm that cancels a bias is compared without that bias's contribution)."""
    cancelled = M.cancelled_biases(ir)
    worst: dict[tuple[str, str], Check] = {}

    def keep(kind: str, key: str, check: Check) -> None:
        old = worst.get((kind, key))
        if old is None or (check.error or 0.0) > (old.error or 0.0):
            worst[(kind, key)] = check

    for k, (lb, la) in enumerate(zip(ref_traj.losses, other_traj.losses)):
        for key, value in lb.items():
            keep("loss", key, M.compare_loss(LEVEL, "trajectory loss", a_name, b_name, key,
                                             la.get(key, float("nan")), value, rtol=options.loss_rtol, step=k + 1))
    corrected = {f"{bn}/moving_mean": bias for bias, bn in cancelled.items()
                 if any(p.name == "moving_mean" for p in ir.node(bn).params)}
    ema_b = {key: bias_ema(ir, ref_traj, initial, bias, key) for key, bias in corrected.items()}
    ema_a = {key: bias_ema(ir, other_traj, initial, bias, key) for key, bias in corrected.items()}
    for k, (wb, wa) in enumerate(zip(ref_traj.weights, other_traj.weights)):
        for key, _, _ in ir.weight_specs():
            if key in cancelled:
                continue
            va, vb, detail = wa[key], wb[key], ""
            if key in corrected:
                va, vb = va - ema_a[key][k], vb - ema_b[key][k]
                detail = (f"compared without the contribution of the cancelled bias {corrected[key]} "
                          "(moving_mean − the moving average of that bias)")
            keep("weights", key, M.compare_array(LEVEL, "trajectory weights", a_name, b_name, key, va, vb,
                                                 rtol=options.weight_rtol, floor=1.0, norm=M.SCALED, step=k + 1,
                                                 detail=detail))
    checks = [c for (kind, _), c in worst.items() if kind == "loss"]
    checks += [worst[("weights", key)] for key, _, _ in ir.weight_specs() if ("weights", key) in worst]
    for key, bn in cancelled.items():
        checks.append(Check(LEVEL, "trajectory weights", a_name, b_name, SKIP, key,
                            detail=f"{key} is cancelled by batch norm {bn!r} (true gradient 0): its value is rounding "
                                   "noise integrated by the optimizer, not a quantity both backends define"))
    return checks


def add_noise_floor(checks: list[Check], ir: ModelIR, ref_traj: Trajectory, noise_traj: Trajectory) -> None:
    """Append to each failed trajectory check how far the reference drifts from itself (1-ulp restart)."""
    for c in checks:
        if c.status != FAIL or c.step is None or c.name not in ("trajectory loss", "trajectory weights"):
            continue
        k = c.step - 1
        key = c.target.split("[", 1)[0]
        if c.name == "trajectory loss":
            floor = max(M.loss_error(noise_traj.losses[j][key], ref_traj.losses[j][key]) for j in range(k + 1))
        else:
            floor = max(M.scaled_error(noise_traj.weights[j][key], ref_traj.weights[j][key], 1.0)[0] for j in range(k + 1))
        ratio = c.error / floor if floor else float("inf")
        verdict = ("the difference is within 10× the reference's own float32 sensitivity" if ratio <= 10
                   else "the difference is well above the reference's own float32 sensitivity")
        c.detail = (f"noise floor {floor:.3g} (the reference restarted from weights 1 ulp away drifts this far "
                    f"by step {c.step}); {verdict}")


def numeric_level(ir: ModelIR, backends: Sequence["Backend"], weights: Arrays, batches: Sequence[NumericBatch],
                  trajectory: Sequence[NumericBatch], options: ConformOptions = ConformOptions(),
                  progress: ProgressSink | None = None, *, data_note: str = "", seed: int = 0) -> LevelResult:
    """Every backend against the first: single-batch checks on `batches`, then the `trajectory`."""
    progress = progress or ProgressSink()
    result = LevelResult(LEVEL)
    ref_backend, reference = backends[0], backends[0].name
    result.data.update({
        "reference": reference, "data": data_note, "batches": len(batches),
        "batch_size": batches[0].size if batches else 0, "trajectory_steps": len(trajectory),
        "cancelled_biases": M.cancelled_biases(ir),
        "tolerances": {
            "outputs, moving statistics": f"{M.SCALED} <= {M.OUTPUT_RTOL:g}",
            "losses": f"{M.LOSS} <= {options.loss_rtol:g}",
            "gradients": f"{M.gradient_norm()} <= {M.GRADIENT_RTOL:g}",
            "trajectory weights": f"{M.SCALED} <= {options.weight_rtol:g} after every step",
        },
    })
    skip = unsupported_check(LEVEL, ref_backend, reference, ir, options.unsupported)
    if skip is not None:
        skip.detail = f"the reference cannot build the model: {skip.detail}"
        result.checks.append(skip)
        return result
    others = list(backends[1:])
    steps = len(trajectory) if has_loss(ir) else 0
    per_backend = len(batches) + 2 * steps
    task = progress.start(f"numeric: {len(batches)} batches + {steps} steps vs {reference}",
                          total=per_backend * len(others))
    ref_traj: Trajectory | None = None
    noise_traj: Trajectory | None = None
    for backend in others:
        skip = unsupported_check(LEVEL, backend, reference, ir, options.unsupported)
        if skip is not None:
            result.checks.append(skip)
            progress.advance(task, per_backend)
            continue
        try:
            ref_model, model = ref_backend.build(ir, weights), backend.build(ir, weights)
        except Exception as exc:
            result.checks.append(Check(LEVEL, "build", backend.name, reference, FAIL,
                                       detail=f"building the models raised {type(exc).__name__}: {exc}"))
            progress.advance(task, per_backend)
            continue
        for i, batch in enumerate(batches):
            result.checks.extend(_guarded(
                lambda: single_batch_checks(ir, ref_model, model, weights, batch, batch_number=i + 1, options=options),
                f"single-batch checks on batch {i + 1}", backend.name, reference))
            progress.advance(task)
        if not steps:
            if trajectory:
                result.checks.append(Check(LEVEL, "trajectory", backend.name, reference, SKIP,
                                           detail="no output has a loss: nothing to train"))
            continue

        def _trajectory() -> list[Check]:
            nonlocal ref_traj, noise_traj
            if ref_traj is None:
                ref_model.set_weights(weights)
                ref_traj = run_trajectory(ir, ref_model, trajectory, lambda k: progress.advance(task))
            else:
                progress.advance(task, steps)
            model.set_weights(weights)
            other_traj = run_trajectory(ir, model, trajectory, lambda k: progress.advance(task))
            checks = trajectory_checks(ir, ref_traj, other_traj, backend.name, reference, options, weights)
            if any(c.status == FAIL for c in checks):
                if noise_traj is None:
                    noisy = ref_backend.build(ir, ulp_perturbed(weights, seed))
                    noise_traj = run_trajectory(ir, noisy, trajectory)
                add_noise_floor(checks, ir, ref_traj, noise_traj)
            return checks

        result.checks.extend(_guarded(_trajectory, "trajectory", backend.name, reference))
    progress.finish(task)
    return result


def _guarded(fn: Callable[[], list[Check]], what: str, backend: str, reference: str) -> list[Check]:
    try:
        return fn()
    except Exception as exc:
        return [Check(LEVEL, what, backend, reference, FAIL, detail=f"raised {type(exc).__name__}: {exc}")]
