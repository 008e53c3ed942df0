"""Float32 drift: how far two backends' training trajectories move apart, against how far float32 moves one.

For one seed, the shared runner trains the IR under strict parity (dnnc draws
the dropout masks, so every backend sees the same batches, masks, learning
rates and initial weights) for the first ``epochs`` epoch(s):

* every backend, from dnnc's initial weights;
* the **control**: the reference backend once more, "1 ulp away" — every
  initial weight (:func:`dnnc.conformance.numeric.ulp_perturbed`), every float
  hyperparameter of the optimizer and every batch norm's momentum and epsilon
  (:func:`ulp_hyperparameters`) moved by one float32 ulp, and the rows of every
  training batch in another order (:func:`reordered_rows`: the same step,
  other rounding in the batch reductions).  It measures how far float32 alone
  carries one framework away from itself.

At checkpoints spaced geometrically over the window (:func:`checkpoints`)
every run's weights are compared with the reference's, giving two **drift
curves** per run:

* ``weights``: ‖w − w_ref‖₂ / ‖w_ref‖₂ over every array (the moving statistics
  included);
* ``loss``: the mean over the steps since the previous checkpoint of
  |loss − loss_ref| / max(|loss_ref|, 1e-6), the per-step training loss.

The **drift factor** of a backend (per quantity, :func:`drift_factors`) is the
largest ratio, over the checkpoints and seeds, of its drift to the largest
drift any seed's control reaches within ``TIME_TOLERANCE`` (8) times as many
steps, each floored at one float32 ulp (2⁻²⁴):

    factor = max_{seed, k}  max(cross_k, 2⁻²⁴) / max(max_{seeds', j: step_j ≤ 8·step_k} control_j, 2⁻²⁴)

Two backends are "as equal as float32 allows" when the factor stays within a
small bound (``[conformance] drift_factor``, 10).  Why this control, measured
on ``fashion_128_adam`` (Adam): the two frameworks' first update already
differs by 6.7e-6 relative in every bias (they hold constants such as β₂ in
float32 or in float64), so a control moved 1 ulp in its weights only stays
within 4e-7 over the first epoch while the frameworks drift 0.19 apart; with
the hyperparameters moved as well the control's curve follows the
cross-backend one within 10 % until one of them "takes off" (a chaotic network
amplifies a ~1e-6 difference to ~0.1 within a few hundred steps).  When that
happens is chance (seed 1: step 41 for the frameworks, step 489 for its
control), hence the time tolerance and the controls of every seed.  A semantic
difference (another formula, constant or schedule) moves the trajectories
apart from the first steps, far above the control (a 1 % learning-rate error:
factor 3e4).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..compiler.ir import ModelIR
from .options import with_seed, with_strict_parity

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from ..runner.datasets.containers import Datasets

FLOOR = 2.0 ** -24
"""Relative size of one float32 ulp (half the spacing at 1): the floor of every drift value."""
CONTROL = " (1 ulp)"
"""Suffix naming the control run: the reference restarted from weights one float32 ulp away."""
LOSS_FLOOR = 1e-6
"""Denominator floor of the relative loss difference."""


def checkpoints(total_steps: int, count: int = 40) -> list[int]:
    """About `count` distinct steps (1-based global step counts) spaced geometrically from 1 to `total_steps`,
    both included."""
    if total_steps < 1:
        return []
    raw = np.geomspace(1, total_steps, num=max(2, count))
    return sorted({int(round(s)) for s in raw} | {1, total_steps})


@dataclass
class Trajectory:
    """One run's per-step training losses and its weights at the checkpoints (global step → arrays)."""

    losses: list[float] = field(default_factory=list)
    weights: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    seconds: float = 0.0


def _recorder(steps: set[int], trajectory: Trajectory):
    from ..runner.callbacks.base import Callback

    class Recorder(Callback):
        """Keeps every step's loss and the weights after the checkpoint steps."""

        def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
            trajectory.losses.append(float(logs["loss"]))
            done = len(trajectory.losses)
            if done in steps:
                trajectory.weights[done] = {k: np.array(v, dtype=np.float64)
                                            for k, v in self.model.get_weights().items()}

    return Recorder()


def reordered_rows(seed: int) -> Callable[[Any], Any]:
    """An executor factory for the control: every training batch with its rows in another (seeded) order.

    The rows' dropout masks and sample weights move with them and the training-mode outputs come back in the
    batch's order, so the step is mathematically the same (batch means, batch-norm statistics and gradient sums
    do not depend on the order of the rows); only the float32 rounding of those reductions changes, as it does
    between two frameworks' kernels."""
    from ..backends.base import StepResult
    from ..runner.executor import Batch, LocalExecutor

    class ReorderedRows(LocalExecutor):
        def __init__(self, model: Any) -> None:
            super().__init__(model)
            self.rng = np.random.default_rng([seed, 0x0DE5])

        def train_step(self, batch: Batch, *, learning_rate: float, dropout_masks=None) -> StepResult:
            order = self.rng.permutation(batch.size)
            moved = Batch(batch.indices[order], {k: v[order] for k, v in batch.inputs.items()},
                          {k: v[order] for k, v in batch.targets.items()},
                          None if batch.sample_weight is None else batch.sample_weight[order])
            masks = None if dropout_masks is None else {k: np.asarray(m)[order] for k, m in dropout_masks.items()}
            result = super().train_step(moved, learning_rate=learning_rate, dropout_masks=masks)
            back = np.argsort(order)
            return StepResult(losses=result.losses,
                              outputs={k: np.asarray(v)[back] for k, v in result.outputs.items()})

    return ReorderedRows


def ulp_perturbed(weights: Any, seed: int) -> dict[str, np.ndarray]:
    """Every weight moved by one float32 ulp, up or down at random (zeros stay zero)."""
    rng = np.random.default_rng([seed, 0x0111])
    out = {}
    for key, w in weights.items():
        w = np.asarray(w, dtype=np.float32)
        direction = np.where(rng.random(w.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
        out[key] = np.where(w == 0, w, np.nextafter(w, direction)).astype(np.float32)
    return out


def _ulp_moved(value: Any, rng: np.random.Generator) -> Any:
    """Every non-zero float in `value` (a number, or the dicts and lists of an optimizer config) moved by one float32
    ulp, up or down at random; other values unchanged."""
    if isinstance(value, dict):
        return {k: _ulp_moved(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [_ulp_moved(v, rng) for v in value]
    if isinstance(value, float) and value != 0.0 and math.isfinite(value):
        direction = np.float32(np.inf if rng.random() < 0.5 else -np.inf)
        return float(np.nextafter(np.float32(value), direction))
    return value


def ulp_hyperparameters(ir: ModelIR, seed: int) -> ModelIR:
    """The IR with the optimizer's float hyperparameters (learning rate and schedule, betas, epsilon, momentum, …)
    and every batch norm's momentum and epsilon moved by one float32 ulp (the frameworks hold such constants in
    float32 or in float64: Keras's 1 − float32(0.999) is 1.3e-5 away from torch's 1 − 0.999)."""
    rng = np.random.default_rng([seed, 0x0BE7A])
    training = ir.training.model_copy(update={"optimizer": _ulp_moved(dict(ir.training.optimizer), rng)})
    nodes = tuple(n.model_copy(update={"attrs": n.attrs.model_copy(update={
        "momentum": _ulp_moved(float(n.attrs.momentum), rng), "epsilon": _ulp_moved(float(n.attrs.epsilon), rng)})})
        if n.op == "batch_norm" else n for n in ir.nodes)
    return ir.model_copy(update={"training": training, "nodes": nodes})


def steps_in(ir: ModelIR, datasets: "Datasets", epochs: int) -> int:
    """Optimizer steps of `epochs` epochs of the training split (the last partial batch included)."""
    batch = ir.training.batch_size
    return epochs * math.ceil(datasets.train.n / batch)


def record(train: Callable[..., Any], ir: ModelIR, backend: "Backend", datasets: "Datasets", *, seed: int,
           epochs: int, steps: Sequence[int], weights: Any = None, executor: Any = None) -> Trajectory:
    """Train `backend` for `epochs` epochs with `train` (a :func:`~.training.train_with_runner`-like function
    taking ``callbacks``, ``weights`` and ``executor``) and record its trajectory."""
    trajectory = Trajectory()
    started = time.perf_counter()
    train(ir, backend, datasets, seed=seed, epochs=epochs, progress=None,
          callbacks=[_recorder(set(steps), trajectory)], weights=weights, executor=executor)
    trajectory.seconds = round(time.perf_counter() - started, 3)
    return trajectory


def weights_distance(a: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> float:
    """‖a − ref‖₂ / ‖ref‖₂ over every array (0 when the reference is all zeros and a equals it)."""
    num = den = 0.0
    for key, r in ref.items():
        d = np.asarray(a[key], np.float64) - r
        num += float((d * d).sum())
        den += float((r * r).sum())
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return math.sqrt(num / den)


@dataclass
class DriftCurve:
    """The drift of one run from the reference at the checkpoints."""

    steps: list[int]
    weights: list[float]
    loss: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "weights": self.weights, "loss": self.loss}


def drift(run: Trajectory, ref: Trajectory) -> DriftCurve:
    """`run`'s drift curves against `ref` at the checkpoints both reached."""
    steps = sorted(set(run.weights) & set(ref.weights))
    n = min(len(run.losses), len(ref.losses))
    rel = [abs(a - b) / max(abs(b), LOSS_FLOOR) if math.isfinite(a) and math.isfinite(b) else math.inf
           for a, b in zip(run.losses[:n], ref.losses[:n])]
    weights, loss, previous = [], [], 0
    for s in steps:
        weights.append(weights_distance(run.weights[s], ref.weights[s]))
        window = rel[previous:min(s, n)]
        loss.append(float(np.mean(window)) if window else math.nan)
        previous = s
    return DriftCurve(steps, weights, loss)


TIME_TOLERANCE = 8
"""The cross drift after s steps is compared with the controls' largest drift within TIME_TOLERANCE·s steps."""


def factor(steps: Sequence[int], cross: Sequence[float], controls: Sequence[Sequence[float]],
           time_tolerance: float = TIME_TOLERANCE) -> tuple[float, int, float]:
    """(max_k max(cross_k, FLOOR) / max(envelope_k, FLOOR), the index k of that maximum, envelope_k), envelope_k the
    largest drift of any control curve at the checkpoints up to time_tolerance·steps[k]; NaN entries are skipped,
    an infinite cross drift gives an infinite factor."""
    best, where, env_at = 0.0, -1, math.nan
    for k, c in enumerate(cross):
        if math.isnan(c):
            continue
        horizon = time_tolerance * steps[k]
        seen = [v for curve in controls for s, v in zip(steps, curve) if s <= horizon and not math.isnan(v)]
        env = max(seen) if seen else 0.0
        ratio = max(c, FLOOR) / max(env, FLOOR) if math.isfinite(c) else math.inf
        if ratio > best or where < 0:
            best, where, env_at = ratio, k, env
    return best, where, env_at


@dataclass
class SeedDrift:
    """The drift of every backend, and of the control, from the reference over one seed's window."""

    seed: int
    epochs: int
    reference: str
    curves: dict[str, DriftCurve]
    """Backend name (and ``<reference> (1 ulp)``, the control) → its drift from the reference."""
    seconds: dict[str, float]

    @property
    def control(self) -> str:
        return self.reference + CONTROL

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "epochs": self.epochs, "reference": self.reference, "control": self.control,
                "curves": {k: v.to_dict() for k, v in self.curves.items()}, "seconds": self.seconds}


def drift_factors(per_seed: Sequence[SeedDrift], backend: str) -> dict[str, dict[str, Any]]:
    """Per quantity (``weights``, ``loss``): the factor of `backend` over every seed — each seed's cross drift
    against the envelope of every seed's control (the controls of all seeds are samples of how far float32 alone
    carries this network, and pooling them makes the envelope robust to when a chaotic control happens to take
    off) — with the seed, step and drifts where it is reached, and each seed's own factor."""
    measured = [d for d in per_seed if backend in d.curves]
    out: dict[str, dict[str, Any]] = {}
    for quantity in ("weights", "loss"):
        controls = [getattr(d.curves[d.control], quantity) for d in per_seed]
        worst: dict[str, Any] = {"factor": math.nan, "seed": None, "step": None, "drift": None, "control": None,
                                 "per_seed": {}}
        for d in measured:
            curve = d.curves[backend]
            f, k, env = factor(curve.steps, getattr(curve, quantity), controls)
            worst["per_seed"][d.seed] = f
            if k >= 0 and not f <= worst["factor"]:
                worst.update(factor=f, seed=d.seed, step=curve.steps[k], drift=getattr(curve, quantity)[k],
                             control=env)
        out[quantity] = worst
    return out


def measure_drift(train: Callable[..., Any], ir: ModelIR, backends: Sequence["Backend"], datasets: "Datasets", *,
                  seed: int, epochs: int = 1, count: int = 40) -> SeedDrift:
    """Train every backend and the 1-ulp control for `epochs` epochs under strict parity (seed `seed`) and return
    their drift curves against the first backend."""
    from ..compiler.initial_weights import initial_weights

    run_ir = with_seed(with_strict_parity(ir), seed)
    steps = checkpoints(steps_in(run_ir, datasets, epochs), count)
    reference = backends[0]
    start = initial_weights(run_ir, seed)
    runs = {b.name: record(train, run_ir, b, datasets, seed=seed, epochs=epochs, steps=steps) for b in backends}
    control = reference.name + CONTROL
    runs[control] = record(train, ulp_hyperparameters(run_ir, seed), reference, datasets, seed=seed, epochs=epochs,
                           steps=steps, weights=ulp_perturbed(start, seed), executor=reordered_rows(seed))
    ref = runs[reference.name]
    curves = {name: drift(t, ref) for name, t in runs.items() if name != reference.name}
    return SeedDrift(seed, epochs, reference.name, curves, {name: t.seconds for name, t in runs.items()})
