"""The learning-rate sweep (`dnnc lr-find`): train a few hundred steps while the rate grows exponentially.

Step ``k`` of ``steps`` (0-based) trains one batch at

    lr_k = start · (end / start) ^ (k / (steps − 1))

with the spec's optimizer (the schedule of the spec is replaced by the sweep),
batches drawn as training draws them (shuffled per epoch with the spec's seed,
epochs repeated as needed).  The loss of step ``k`` is the training-mode loss of
its batch before the update; it is smoothed with an exponential moving average
with bias correction, ``avg_k = β·avg_{k−1} + (1 − β)·loss_k``,
``smoothed_k = avg_k / (1 − β^(k+1))``, β = 0.98.

**Explosion rule.**  The sweep stops early at the first step whose loss is not a
finite number or whose smoothed loss exceeds 4 × the smallest smoothed loss so
far; that step is the last one recorded.

**Suggestion rule.**  The suggested rate is the rate at the smallest smoothed
loss divided by 10: the loss is lowest just before it starts to climb, and the
best rate is about ten times lower than that turning point (the lecture's
rule).  With fewer than 10 recorded steps, there is no suggestion.

The model's weights (trainable and moving statistics) are restored to what they
were before the sweep, whatever happens.  The optimizer's own state (momenta,
Adam's moments) is not part of the weights: sweep with a model built for it, as
``dnnc lr-find`` does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..backends.base import CompiledModel
from ..compiler.ir import ModelIR
from .datasets.containers import Split
from .dropout import DropoutMasks
from .errors import RunnerError
from .executor import LocalExecutor
from .loop import gather
from .sampling import ShuffledBatches

BETA = 0.98
EXPLODE = 4.0
DIVISOR = 10.0
MIN_STEPS = 10

PLOT = "lr_find.png"
JSON = "lr_find.json"


@dataclass
class SweepResult:
    """The rates tried, the raw and smoothed losses, why the sweep stopped, and the suggestion."""

    start: float
    end: float
    steps: int
    learning_rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped: str = "end"
    """``"end"`` (every step ran) or ``"exploded"`` (the explosion rule)."""
    min_loss_rate: float | None = None
    suggestion: float | None = None
    rule: str = (f"the rate at the smallest smoothed loss / {DIVISOR:g}; the sweep stops when the loss is not "
                 f"finite or the smoothed loss exceeds {EXPLODE:g} × its minimum (EMA β = {BETA})")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["losses"] = [v if math.isfinite(v) else None for v in self.losses]
        out["smoothed"] = [v if math.isfinite(v) else None for v in self.smoothed]
        return out


def rate_at(k: int, start: float, end: float, steps: int) -> float:
    return start * (end / start) ** (k / (steps - 1)) if steps > 1 else start


def lr_sweep(model: CompiledModel, ir: ModelIR, train: Split, *, start: float = 1e-6, end: float = 10.0,
             steps: int = 500, on_step: Callable[[int, float, float], None] | None = None) -> SweepResult:
    """Run the sweep on ``model`` (built from ``ir``) with the rows of ``train``; weights restored afterwards."""
    if not (0 < start < end) or not math.isfinite(end):
        raise RunnerError(f"the sweep needs 0 < start < end (received start = {start}, end = {end})")
    if steps < 2:
        raise RunnerError(f"the sweep needs at least 2 steps (received {steps})")
    if ir.training is None:
        raise RunnerError(f"model {ir.name!r} has no [training] table: nothing says how to train it")
    training = ir.training
    result = SweepResult(start=start, end=end, steps=steps)
    saved = {k: np.array(v, copy=True) for k, v in model.get_weights().items()}
    executor = LocalExecutor(model)
    source = ShuffledBatches(train.n, training.batch_size, training.seed)
    masks = DropoutMasks(ir, training.seed) if training.strict_parity else None
    average, best = 0.0, math.inf
    try:
        k, epoch = 0, 0
        while k < steps:
            for index in source.batches(epoch):
                if k >= steps:
                    break
                rate = rate_at(k, start, end, steps)
                batch = gather(train, index)
                step = executor.train_step(batch, learning_rate=rate,
                                           dropout_masks=masks.for_step(k, batch.size) if masks else None)
                loss = float(step.losses["loss"])
                average = BETA * average + (1 - BETA) * loss
                smooth = average / (1 - BETA ** (k + 1))
                result.learning_rates.append(rate)
                result.losses.append(loss)
                result.smoothed.append(smooth)
                if on_step is not None:
                    on_step(k, rate, smooth)
                k += 1
                if not (math.isfinite(loss) and math.isfinite(smooth)) or smooth > EXPLODE * best:
                    result.stopped = "exploded"
                    k = steps
                    break
                best = min(best, smooth)
            epoch += 1
    finally:
        model.set_weights(saved)
    _suggest(result)
    return result


def _suggest(result: SweepResult) -> None:
    finite = [(s, r) for s, r in zip(result.smoothed, result.learning_rates) if math.isfinite(s)]
    if not finite:
        return
    result.min_loss_rate = min(finite)[1]
    if len(result.smoothed) >= MIN_STEPS:
        result.suggestion = result.min_loss_rate / DIVISOR


def plot_sweep(result: SweepResult, path: Path, title: str) -> Path:
    """The smoothed (and raw) loss against the rate on a log axis, the minimum and the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rates = np.asarray(result.learning_rates)
    raw = np.asarray(result.losses, dtype=float)
    smooth = np.asarray(result.smoothed, dtype=float)
    ax.plot(rates, raw, color="0.8", linewidth=0.8, label="loss of the batch")
    ax.plot(rates, smooth, color="C0", linewidth=1.8, label=f"smoothed (EMA β = {BETA})")
    if result.min_loss_rate is not None:
        ax.axvline(result.min_loss_rate, color="C3", linestyle=":", label=f"minimum at {result.min_loss_rate:.3g}")
    if result.suggestion is not None:
        ax.axvline(result.suggestion, color="C2", linestyle="--", label=f"suggestion {result.suggestion:.3g}")
    finite = smooth[np.isfinite(smooth)]
    if finite.size:
        low, high = float(finite.min()), float(min(finite.max(), EXPLODE * finite.min()))
        pad = 0.05 * (high - low or abs(low) or 1.0)
        ax.set_ylim(low - pad, high + pad)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


@dataclass
class LRFindRun:
    """What :func:`lr_find_spec` returns."""

    result: SweepResult
    out_dir: Path
    files: dict[str, Path]
    ir: ModelIR
    backend: str


def lr_find_spec(spec_path: str | Path, *, backend: str, start: float = 1e-6, end: float = 10.0, steps: int = 500,
                 out: str | Path | None = None, overrides=(), data_dir: str | Path | None = None,
                 download: bool = True, on_step: Callable[[int, float, float], None] | None = None) -> LRFindRun:
    """Compile the spec, load its training rows, build the model with its initial weights, sweep, write the files."""
    from ..compiler.initial_weights import initial_weights
    from .api import compile_with_overrides, get_backend, load_datasets
    from .records import default_run_dir, dump_json

    spec_path = Path(spec_path)
    _, ir = compile_with_overrides(spec_path, list(overrides))
    if ir.training is None:
        raise RunnerError(f"{spec_path} has no [training] table: nothing says how to train the model")
    datasets = load_datasets(ir, base_dir=spec_path.resolve().parent, data_dir=data_dir, download=download)
    chosen = get_backend(backend, ir)
    model = chosen.build(ir, initial_weights(ir, ir.training.seed))
    result = lr_sweep(model, ir, datasets.train, start=start, end=end, steps=steps, on_step=on_step)
    out_dir = Path(out) if out is not None else default_run_dir(ir.name, f"lr-find-{backend}")
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"model": ir.name, "backend": chosen.name, "spec": str(spec_path.resolve()),
              "overrides": list(overrides), "optimizer": ir.training.optimizer["type"],
              "batch_size": ir.training.batch_size, "seed": ir.training.seed, **result.to_dict()}
    json_path = out_dir / JSON
    json_path.write_text(dump_json(record))
    plot = plot_sweep(result, out_dir / PLOT, f"{ir.name} ({chosen.name}): learning-rate sweep")
    return LRFindRun(result=result, out_dir=out_dir, files={"json": json_path, "plot": plot}, ir=ir,
                     backend=chosen.name)


__all__ = ["BETA", "DIVISOR", "EXPLODE", "JSON", "PLOT", "LRFindRun", "SweepResult", "lr_find_spec", "lr_sweep", "plot_sweep", "rate_at"]
