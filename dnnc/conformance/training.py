"""The training level: does every backend reach the reference's test accuracy, and drift only as float32 does?

**Accuracy, with sequential seeds.**  The shared runner
(:class:`dnnc.runner.loop.Trainer`, in this process, with the spec's callbacks
writing into a temporary run directory) trains the spec with the reference and
every other backend, seed after seed (the seed sets the initial weights, the
batch order and the strict-parity dropout masks).  After the first
``[conformance] seeds`` seeds (``--seeds``) and after every further seed, the
interval of

    mean test accuracy(backend) − mean test accuracy(reference)      (percentage points)

is looked at (:mod:`.sequential`: α = 1 − ``confidence`` spent over the looks,
so every decision together is wrong with probability ≤ α): inside
± ``tolerance`` → PASS, entirely outside → FAIL, otherwise one more seed; at
``[conformance] max_seeds`` seeds (``--max-seeds``) an undecided backend is
INCONCLUSIVE, with the number of seeds that would decide at the observed
spread.  A backend stops being trained once it is decided.

Two intervals:

* **paired** (the verdict's, by default): the runs of one seed share initial
  weights, batch order and — with strict parity — dropout masks, so the
  per-seed differences d_i are the sample: mean(d) ± t_{n−1}·s_d/√n.  Two
  backends that give the same accuracy for every seed get the interval
  [0, 0];
* **Welch** (independent samples, Welch–Satterthwaite degrees of freedom,
  ``interval="welch"``); the other interval is reported too.

**Float32 drift** (:mod:`.drift`, ``[conformance] drift_epochs``, 1 by
default): for every seed trained, after the accuracy runs, every backend and a
control (the reference started 1 ulp away and moved 1 ulp after every step)
train the first epoch(s) under strict parity; the cross-backend drift must stay
within ``drift_factor`` times the control's (a "float32 drift" check per
backend and quantity, worst seed).  The drift runs come after every accuracy
run because strict parity switches on process-wide deterministic kernels.

The data are loaded once and shared by every run; ``result.data["cost"]`` has
the number of runs and the wall time.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..compiler.ir import ModelIR
from .drift import TIME_TOLERANCE, SeedDrift, drift_factors, measure_drift
from .options import ConformOptions, ProgressSink, unsupported_check, with_seed
from .results import FAIL, INCONCLUSIVE, PASS, Check, LevelResult
from .sequential import CONTINUE, SequentialDesign, decide, interval_at, seeds_needed
from .stats import DiffInterval, paired_interval, summarize, welch_interval

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from ..runner.datasets.containers import Datasets
    from ..runner.history import History

LEVEL = "training"

TrainFn = Callable[..., "History"]
"""``train(ir, backend, datasets, *, seed, epochs, progress, callbacks=(), weights=None, executor=None) -> History``."""


def seeds_for(ir: ModelIR, options: ConformOptions) -> tuple[int, ...]:
    """The seeds of the first look."""
    if options.seeds is not None:
        return tuple(int(s) for s in options.seeds)
    return tuple(range(int(ir.conformance["seeds"])))


def max_seeds_for(ir: ModelIR, options: ConformOptions) -> int:
    return int(options.max_seeds if options.max_seeds is not None else ir.conformance["max_seeds"])


def tolerance_for(ir: ModelIR, options: ConformOptions) -> float:
    return float(options.tolerance_pp if options.tolerance_pp is not None else ir.conformance["accuracy_tolerance"])


def confidence_for(ir: ModelIR, options: ConformOptions) -> float:
    return float(options.confidence if options.confidence is not None else ir.conformance["confidence"])


def drift_epochs_for(ir: ModelIR, options: ConformOptions) -> int:
    return int(options.drift_epochs if options.drift_epochs is not None else ir.conformance["drift_epochs"])


def drift_factor_for(ir: ModelIR, options: ConformOptions) -> float:
    return float(options.drift_factor if options.drift_factor is not None else ir.conformance["drift_factor"])


def seed_stream(first: Sequence[int], cap: int) -> list[int]:
    """The seeds in the order they are trained: the first look's, then max(first) + 1, … up to `cap` seeds."""
    seeds = list(first)
    following = max(seeds) + 1 if seeds else 0
    while len(seeds) < cap:
        seeds.append(following)
        following += 1
    return seeds


def accuracy_key(ir: ModelIR) -> str | None:
    """The compared test metric: ``test_<metric>`` (``test_<output>_<metric>`` with several outputs)."""
    for o in ir.outputs:
        for m in o.metrics:
            name = str(m.get("name", ""))
            if "accuracy" in name:
                return f"test_{name}" if len(ir.outputs) == 1 else f"test_{o.name}_{name}"
    return None


def train_with_runner(ir: ModelIR, backend: "Backend", datasets: "Datasets", *, seed: int, epochs: int | None,
                      progress: Any = None, callbacks: Sequence[Any] = (), weights: Any = None,
                      executor: Callable[[Any], Any] | None = None) -> "History":
    """Train one model with the shared runner (the spec's callbacks included) and return its History.

    ``weights`` replaces dnnc's initial weights for ``seed``; ``executor(model)`` replaces the runner's
    :class:`~dnnc.runner.executor.LocalExecutor`."""
    from ..compiler.initial_weights import initial_weights
    from ..runner.callbacks.base import CallbackContext
    from ..runner.callbacks.factory import build_callbacks
    from ..runner.loop import Trainer

    run_ir = with_seed(ir, seed)
    model = backend.build(run_ir, initial_weights(run_ir, seed) if weights is None else weights)
    with tempfile.TemporaryDirectory(prefix="dnnc-conform-") as tmp:
        context = CallbackContext(ir=run_ir, run_dir=Path(tmp), message=lambda text: None)
        spec_callbacks = build_callbacks(run_ir.training.callbacks, context)
        trainer = Trainer(model, run_ir, datasets, epochs=epochs, seed=seed, progress=progress,
                          callbacks=[*spec_callbacks, *callbacks], run_dir=Path(tmp),
                          artifact_suffix=backend.artifact_suffix,
                          executor=None if executor is None else executor(model))
        return trainer.fit()


def _interval_words(method: str, confidence: float, df: float) -> str:
    return {"welch": f"{confidence:.4g} Welch interval, {df:.2f} degrees of freedom",
            "paired": f"{confidence:.4g} paired t interval over the seeds, {df:.0f} degrees of freedom",
            "exact": "no spread to estimate (identical per-seed differences): the interval is the difference",
            "point": "one seed: the interval is the point difference (no variance estimate)"}[method]


@dataclass
class _Comparison:
    """The sequential state of one backend against the reference."""

    backend: str
    decision: str = CONTINUE
    looks: list[dict[str, Any]] = field(default_factory=list)
    interval: DiffInterval | None = None
    seeds: int = 0
    failed: bool = False

    @property
    def open(self) -> bool:
        return self.decision == CONTINUE


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


class _Runs:
    """Trains one backend for one seed and keeps the run (or the failure) in `info`."""

    def __init__(self, ir, datasets, train, epochs, acc_key, result, info, reference, progress) -> None:
        self.ir, self.datasets, self.train, self.epochs, self.acc_key = ir, datasets, train, epochs, acc_key
        self.result, self.info, self.reference, self.progress = result, info, reference, progress
        self.count, self.seconds = 0, 0.0

    def run(self, backend: "Backend", seed: int) -> bool:
        """True when the run finished with a finite test accuracy."""
        started = time.perf_counter()
        self.count += 1
        try:
            history = self.train(self.ir, backend, self.datasets, seed=seed, epochs=self.epochs,
                                 progress=self.progress.training_progress(f"{backend.name}, seed {seed}"))
        except Exception as exc:
            problem = f"training raised {type(exc).__name__}: {exc}"
        else:
            seconds = time.perf_counter() - started
            self.info[backend.name]["runs"].append({
                "seed": seed, "seconds": round(seconds, 3),
                "epochs": [e + 1 for e in history.epochs], "history": dict(history.history),
                "test": dict(history.test), "steps": history.steps,
                "stopped_epoch": None if history.stopped_epoch is None else history.stopped_epoch + 1,
            })
            value = history.test.get(self.acc_key)
            problem = None if _finite(value) else f"the run gave {self.acc_key} = {value}"
        self.seconds += time.perf_counter() - started
        if problem is not None:
            self.result.checks.append(Check(LEVEL, "training run", backend.name, self.reference, FAIL,
                                            f"seed {seed}", detail=problem))
        return problem is None


def training_level(ir: ModelIR, backends: Sequence["Backend"], datasets: "Datasets",
                   options: ConformOptions = ConformOptions(), progress: ProgressSink | None = None,
                   train: TrainFn | None = None) -> tuple[LevelResult, dict[str, dict[str, Any]]]:
    """Train the backends seed after seed until every comparison is decided or the cap is reached, then measure the
    float32 drift of every seed trained; return the level and, per backend, its runs and summaries."""
    progress = progress or ProgressSink()
    train = train or train_with_runner
    result = LevelResult(LEVEL)
    first = seeds_for(ir, options)
    cap = max_seeds_for(ir, options)
    tol = tolerance_for(ir, options)
    confidence = confidence_for(ir, options)
    drift_epochs, drift_limit = drift_epochs_for(ir, options), drift_factor_for(ir, options)
    acc_key = accuracy_key(ir)
    reference = backends[0].name
    epochs = options.epochs if options.epochs is not None else (ir.training.epochs if ir.training else None)
    paired = options.interval == "paired"
    result.data.update({"tolerance_pp": tol, "confidence": confidence, "first_seeds": list(first), "max_seeds": cap,
                        "seeds": [], "epochs": epochs, "metric": acc_key, "interval": options.interval,
                        "strict_parity": bool(ir.training and ir.training.strict_parity), "reference": reference,
                        "drift_epochs": drift_epochs, "drift_factor": drift_limit})
    info: dict[str, dict[str, Any]] = {b.name: {"runs": []} for b in backends}
    problem = None
    if ir.training is None:
        problem = f"model {ir.name!r} has no [training] section: nothing to train"
    elif acc_key is None:
        problem = (f"model {ir.name!r} reports no accuracy metric, and the training level compares test accuracy "
                   "(add metrics = [\"accuracy\"] to [training])")
    elif datasets.test is None or datasets.test.n == 0:
        problem = "the data has no test rows, and the training level compares test accuracy"
    try:
        design = SequentialDesign(len(first), cap, confidence)
    except ValueError as exc:
        problem = problem or f"seeds {list(first)} and max_seeds {cap}: {exc}"
    if problem:
        result.error = problem
        return result, info
    result.data["design"] = design.to_dict()

    usable = []
    for backend in backends:
        skip = unsupported_check(LEVEL, backend, reference, ir, options.unsupported)
        if skip is not None:
            result.checks.append(skip)
        else:
            usable.append(backend)
    if not usable or usable[0].name != reference:
        result.error = f"the reference backend {reference!r} cannot train this model"
        return result, info

    started = time.perf_counter()
    runs = _Runs(ir, datasets, train, epochs, acc_key, result, info, reference, progress)
    comparisons = {b.name: _Comparison(b.name) for b in usable[1:]}
    by_name = {b.name: b for b in usable}
    trained: dict[int, list[str]] = {}
    task = progress.start(f"training: {len(usable)} backends, up to {cap} seeds × {epochs} epochs",
                          total=len(usable) * cap)
    for n, seed in enumerate(seed_stream(first, cap), 1):
        active = [c for c in comparisons.values() if c.open]
        if not active:
            break
        progress.advance(task, 0, description=f"training {reference}, seed {seed} ({n}/{cap})")
        if not runs.run(usable[0], seed):
            result.error = f"the reference backend {reference!r} failed to train with seed {seed}"
            break
        progress.advance(task)
        trained[seed] = [reference]
        for c in active:
            progress.advance(task, 0, description=f"training {c.backend}, seed {seed} ({n}/{cap})")
            ok = runs.run(by_name[c.backend], seed)
            progress.advance(task)
            if not ok:
                c.decision, c.failed = FAIL, True
                continue
            c.seeds = n
            trained[seed].append(c.backend)
            if n >= design.first:
                _look(c, info, reference, acc_key, n, design, tol, paired)
    progress.finish(task)
    training_seconds = time.perf_counter() - started
    result.data["seeds"] = sorted(trained)

    for data in info.values():
        _summaries(data, acc_key)
    out = []
    for c in comparisons.values():
        if c.failed or c.interval is None:
            continue  # a run failed (its check says why) or the reference did
        out.append(_conclude(c, info, reference, acc_key, design, tol, paired, result))
    result.data["comparisons"] = out

    drift_seconds, drift_runs = 0.0, 0
    if drift_epochs > 0 and result.error is None and len(usable) > 1:
        drift_started = time.perf_counter()
        window = min(drift_epochs, epochs) if epochs else drift_epochs
        drift_runs = _drift_phase(ir, by_name, datasets, train, trained, window, drift_limit, result, progress)
        drift_seconds = time.perf_counter() - drift_started
    result.data["cost"] = {"training_runs": runs.count, "drift_runs": drift_runs,
                           "training_seconds": round(training_seconds, 1), "drift_seconds": round(drift_seconds, 1),
                           "seconds": round(training_seconds + drift_seconds, 1)}
    return result, info


def _values(info, name: str, acc_key: str, n: int) -> list[float]:
    return [float(r["test"][acc_key]) for r in info[name]["runs"][:n]]


def _look(c: _Comparison, info, reference: str, acc_key: str, n: int, design: SequentialDesign, tol: float,
          paired: bool) -> None:
    """The look after `n` seeds: the interval at its confidence and the decision."""
    a = [100.0 * v for v in _values(info, c.backend, acc_key, n)]
    b = [100.0 * v for v in _values(info, reference, acc_key, n)]
    interval = interval_at(a, b, n, design, paired=paired)
    c.interval, c.decision = interval, decide(interval, tol)
    c.looks.append({"seeds": n, "confidence": design.confidence_at(n), "diff_pp": interval.diff,
                    "low_pp": interval.low, "high_pp": interval.high, "decision": c.decision})


def _summaries(data: dict[str, Any], acc_key: str) -> None:
    runs = data["runs"]
    accs = [r["test"].get(acc_key) for r in runs]
    losses = [r["test"].get("test_loss") for r in runs]
    if runs and all(_finite(a) for a in accs):
        data["test_accuracy"] = summarize(accs).to_dict()
    if runs and all(_finite(v) for v in losses):
        data["test_loss"] = summarize(losses).to_dict()


def _conclude(c: _Comparison, info, reference: str, acc_key: str, design: SequentialDesign, tol: float,
              paired: bool, result: LevelResult) -> dict[str, Any]:
    """The comparison's Check (PASS, FAIL or INCONCLUSIVE) and its JSON record."""
    n, interval = c.seeds, c.interval
    a, b = _values(info, c.backend, acc_key, n), _values(info, reference, acc_key, n)
    d = summarize([100.0 * (x - y) for x, y in zip(a, b)])
    status = INCONCLUSIVE if c.decision == CONTINUE else c.decision
    confidence = design.confidence_at(n)
    other = (welch_interval if paired else paired_interval)(a, b, confidence).scaled(100.0)
    detail = (f"difference {interval.diff:+.3f} pp after {n} seeds, interval [{interval.low:+.3f}, "
              f"{interval.high:+.3f}] pp ({_interval_words(interval.method, confidence, interval.df)}; the "
              f"{design.confidence:.0%} decision spends α over the looks at {design.first}…{design.cap} seeds); "
              f"it must lie within ±{tol:g} pp (PASS) or outside it (FAIL); the "
              f"{'Welch' if paired else 'paired'} interval is [{other.low:+.3f}, {other.high:+.3f}] pp")
    need = None
    if status == INCONCLUSIVE:
        sa = d.std if paired else 100.0 * summarize(a).std
        sb = 0.0 if paired else 100.0 * summarize(b).std
        need = seeds_needed(interval.diff, sa, sb, tol, design.first, design.confidence, paired=paired,
                            beyond=n + 1)
        spread = f"per-seed differences spread {d.std:.3f} pp" if paired else \
            f"accuracies spread {sa:.3f} and {sb:.3f} pp"
        detail += (f"; undecided at the cap of {design.cap} seeds ({spread})"
                   + (f": about {need} seeds (max_seeds = {need}) would decide at this spread" if need else
                      ": the difference sits on the tolerance, no number of seeds decides"))
    result.checks.append(Check(
        LEVEL, "mean test accuracy difference", c.backend, reference, status, acc_key,
        f"{100 * summarize(a).mean:.3f} %", f"{100 * summarize(b).mean:.3f} %",
        max(abs(interval.low), abs(interval.high)), tol, "largest |interval bound| in pp", detail=detail))
    return {"backend": c.backend, "reference": reference, "method": interval.method, "seeds": n,
            "diff_pp": interval.diff, "low_pp": interval.low, "high_pp": interval.high,
            "df": interval.to_dict()["df"], "t": interval.t, "se_pp": interval.se, "confidence": confidence,
            "std_diff_pp": d.std, "status": status, "seeds_needed": need, "looks": c.looks,
            ("welch" if paired else "paired"): other.to_dict(), ("paired" if paired else "welch"): interval.to_dict()}


def _drift_phase(ir: ModelIR, by_name: dict[str, "Backend"], datasets: "Datasets", train: TrainFn,
                 trained: dict[int, list[str]], epochs: int, limit: float, result: LevelResult,
                 progress: ProgressSink) -> int:
    """Measure the float32 drift of every seed trained; add one "float32 drift" check per backend and quantity."""
    seeds = [s for s, names in sorted(trained.items()) if len(names) > 1]
    task = progress.start(f"float32 drift: {len(seeds)} seeds × {epochs} epoch(s)", total=len(seeds))
    per_seed: list[SeedDrift] = []
    runs = 0
    for seed in seeds:
        names = trained[seed]
        progress.advance(task, 0, description=f"float32 drift, seed {seed}")
        try:
            per_seed.append(measure_drift(train, ir, [by_name[n] for n in names], datasets, seed=seed, epochs=epochs))
        except Exception as exc:
            result.checks.append(Check(LEVEL, "float32 drift", ", ".join(names[1:]), names[0], FAIL, f"seed {seed}",
                                       detail=f"the drift runs raised {type(exc).__name__}: {exc}"))
        runs += len(names) + 1
        progress.advance(task)
    progress.finish(task)
    result.data["drift"] = [d.to_dict() for d in per_seed]
    result.data["drift_factors"] = {}
    reference = next(iter(by_name))
    for name in list(by_name)[1:]:
        if not any(name in d.curves for d in per_seed):
            continue
        factors = result.data["drift_factors"][name] = drift_factors(per_seed, name)
        for quantity, worst in factors.items():
            status = PASS if worst["factor"] <= limit else FAIL
            listing = ", ".join(f"seed {s}: {f:.3g}" for s, f in worst["per_seed"].items())
            result.checks.append(Check(
                LEVEL, "float32 drift", name, reference, status, quantity, worst["drift"], worst["control"],
                worst["factor"], limit, "drift / 1-ulp control drift", step=worst["step"],
                detail=(f"worst seed {worst['seed']} ({listing}); {quantity} drift from {reference} over the first "
                        f"{epochs} epoch(s) under strict parity, against the largest drift within {TIME_TOLERANCE}× "
                        f"as many steps of the control ({reference} started 1 ulp away in its weights and "
                        f"hyperparameters, with the rows of every batch in another order) of any seed")))
    return runs
