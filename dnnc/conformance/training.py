"""The training level: does every backend reach the reference's test accuracy?

The shared runner (:class:`dnnc.runner.loop.Trainer`, in this process, with the
spec's callbacks writing into a temporary run directory) trains the spec with
every backend for every seed (the seed sets the initial weights, the batch
order and the strict-parity dropout masks).  Per backend the test accuracy
and test loss are summarised as mean ± sample standard deviation.  For each
backend other than the reference, the confidence interval (``[conformance]
confidence``, 0.95 by default) of

    mean test accuracy(backend) − mean test accuracy(reference)

in percentage points must lie entirely within ± ``tolerance`` (``--tolerance``
or ``[conformance] accuracy_tolerance``, 0.5 pp by default).

Both intervals are computed and reported:

* **paired** (the verdict's, by default): the runs of one seed share initial
  weights, batch order and — with strict parity — dropout masks, so the
  per-seed differences d_i are the natural sample: mean(d) ± t_{n−1}·s_d/√n.
  Two backends that give the same accuracy for every seed get the interval
  [0, 0] (the Welch interval would still be as wide as the seed-to-seed
  spread);
* **Welch** (independent samples, Welch–Satterthwaite degrees of freedom): the
  verdict's when a seed lacks a run in one backend, or with ``interval="welch"``.

A FAIL whose difference lies inside the tolerance is reported as
inconclusive, with the number of seeds that would narrow the interval enough
at the observed spread.  The data are loaded once and shared by every run.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..compiler.ir import ModelIR
from .options import ConformOptions, ProgressSink, unsupported_check, with_seed
from .results import FAIL, PASS, Check, LevelResult
from .stats import paired_interval, summarize, welch_interval

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from ..runner.datasets.containers import Datasets
    from ..runner.history import History

LEVEL = "training"

TrainFn = Callable[..., "History"]
"""``train(ir, backend, datasets, *, seed, epochs, progress) -> History``."""


def seeds_for(ir: ModelIR, options: ConformOptions) -> tuple[int, ...]:
    if options.seeds is not None:
        return tuple(int(s) for s in options.seeds)
    return tuple(range(int(ir.conformance.get("seeds", 2))))


def tolerance_for(ir: ModelIR, options: ConformOptions) -> float:
    if options.tolerance_pp is not None:
        return float(options.tolerance_pp)
    return float(ir.conformance.get("accuracy_tolerance", 0.5))


def confidence_for(ir: ModelIR, options: ConformOptions) -> float:
    if options.confidence is not None:
        return float(options.confidence)
    return float(ir.conformance.get("confidence", 0.95))


def accuracy_key(ir: ModelIR) -> str | None:
    """The compared test metric: ``test_<metric>`` (``test_<output>_<metric>`` with several outputs)."""
    for o in ir.outputs:
        for m in o.metrics:
            name = str(m.get("name", ""))
            if "accuracy" in name:
                return f"test_{name}" if len(ir.outputs) == 1 else f"test_{o.name}_{name}"
    return None


def train_with_runner(ir: ModelIR, backend: "Backend", datasets: "Datasets", *, seed: int, epochs: int | None,
                      progress: Any = None, callbacks: Sequence[Any] = (), weights: Any = None) -> "History":
    """Train one model with the shared runner (the spec's callbacks included) and return its History.

    ``weights`` replaces dnnc's initial weights for ``seed``."""
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
                          artifact_suffix=backend.artifact_suffix)
        return trainer.fit()


def seeds_needed(std_a: float, std_b: float, diff: float, tol: float, confidence: float, *,
                 paired: bool = False) -> int | None:
    """The smallest seed count n (per backend) whose interval, at these standard deviations and this
    difference, would lie within ±tol; None beyond 1000.

    Welch: t(ν)·sqrt((s_a² + s_b²)/n) ≤ tol − |diff|.  Paired (``std_a`` = the
    standard deviation of the per-seed differences): t(n − 1)·s_d/sqrt(n) ≤ tol − |diff|.
    """
    from .stats import t_ppf, welch_df

    room = tol - abs(diff)
    if room <= 0:
        return None
    va, vb = std_a ** 2, std_b ** 2
    for n in range(2, 1001):
        if paired:
            se, df = std_a / math.sqrt(n), n - 1
        else:
            se = math.sqrt((va + vb) / n)
            df = welch_df(va, n, vb, n) if va + vb > 0 else 2 * n - 2
        if t_ppf(0.5 + confidence / 2, df) * se <= room:
            return n
    return None


def _interval_words(method: str, confidence: float, df: float) -> str:
    return {"welch": f"{confidence:.0%} Welch interval, {df:.2f} degrees of freedom",
            "paired": f"{confidence:.0%} paired t interval over the seeds, {df:.0f} degrees of freedom",
            "exact": "no spread to estimate (identical per-seed differences): the interval is the difference",
            "point": "one seed: the interval is the point difference (no variance estimate)"}[method]


def training_level(ir: ModelIR, backends: Sequence["Backend"], datasets: "Datasets",
                   options: ConformOptions = ConformOptions(), progress: ProgressSink | None = None,
                   train: TrainFn | None = None) -> tuple[LevelResult, dict[str, dict[str, Any]]]:
    """Train every backend with every seed; return the level and, per backend, its runs and summaries."""
    progress = progress or ProgressSink()
    train = train or train_with_runner
    result = LevelResult(LEVEL)
    seeds = seeds_for(ir, options)
    tol = tolerance_for(ir, options)
    confidence = confidence_for(ir, options)
    acc_key = accuracy_key(ir)
    reference = backends[0].name
    epochs = options.epochs if options.epochs is not None else (ir.training.epochs if ir.training else None)
    result.data.update({"tolerance_pp": tol, "confidence": confidence, "seeds": list(seeds), "epochs": epochs,
                        "metric": acc_key, "strict_parity": bool(ir.training and ir.training.strict_parity),
                        "reference": reference})
    info: dict[str, dict[str, Any]] = {b.name: {"runs": []} for b in backends}
    problem = None
    if ir.training is None:
        problem = f"model {ir.name!r} has no [training] section: nothing to train"
    elif acc_key is None:
        problem = (f"model {ir.name!r} reports no accuracy metric, and the training level compares test accuracy "
                   "(add metrics = [\"accuracy\"] to [training])")
    elif datasets.test is None or datasets.test.n == 0:
        problem = "the data has no test rows, and the training level compares test accuracy"
    if problem:
        result.error = problem
        return result, info

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

    task = progress.start(f"training: {len(usable)} backends × {len(seeds)} seeds × {epochs} epochs",
                          total=len(usable) * len(seeds))
    for backend in usable:
        for seed in seeds:
            progress.advance(task, 0, description=f"training {backend.name}, seed {seed}")
            started = time.perf_counter()
            try:
                history = train(ir, backend, datasets, seed=seed, epochs=epochs,
                                progress=progress.training_progress(f"{backend.name}, seed {seed}"))
            except Exception as exc:
                result.checks.append(Check(LEVEL, "training run", backend.name, reference, FAIL, f"seed {seed}",
                                           detail=f"training raised {type(exc).__name__}: {exc}"))
            else:
                info[backend.name]["runs"].append({
                    "seed": seed, "seconds": round(time.perf_counter() - started, 3),
                    "epochs": [e + 1 for e in history.epochs], "history": dict(history.history),
                    "test": dict(history.test), "steps": history.steps,
                    "stopped_epoch": None if history.stopped_epoch is None else history.stopped_epoch + 1,
                })
            progress.advance(task)
    progress.finish(task)

    for data in info.values():
        runs = data["runs"]
        accs = [r["test"].get(acc_key) for r in runs]
        losses = [r["test"].get("test_loss") for r in runs]
        if runs and all(isinstance(a, (int, float)) and math.isfinite(a) for a in accs):
            data["test_accuracy"] = summarize(accs).to_dict()
        if runs and all(isinstance(v, (int, float)) and math.isfinite(v) for v in losses):
            data["test_loss"] = summarize(losses).to_dict()

    comparisons = []
    ref_acc = info[reference].get("test_accuracy")
    ref_by_seed = {r["seed"]: r["test"].get(acc_key) for r in info[reference]["runs"]}
    for backend in usable[1:]:
        acc = info[backend.name].get("test_accuracy")
        if not acc or not ref_acc:
            who = reference if not ref_acc else backend.name
            result.checks.append(Check(LEVEL, "mean test accuracy difference", backend.name, reference, FAIL, acc_key,
                                       detail=f"no test accuracy for {who} (a run failed or gave NaN)"))
            continue
        by_seed = {r["seed"]: r["test"].get(acc_key) for r in info[backend.name]["runs"]}
        welch = welch_interval(acc["values"], ref_acc["values"], confidence).scaled(100.0)
        paired = None
        if set(by_seed) == set(ref_by_seed):
            order = sorted(by_seed)
            paired = paired_interval([by_seed[k] for k in order], [ref_by_seed[k] for k in order],
                                     confidence).scaled(100.0)
        use_paired = options.interval == "paired" and paired is not None
        interval = paired if use_paired else welch
        ok = interval.within(tol)
        comparisons.append({"backend": backend.name, "reference": reference, "method": interval.method,
                            "diff_pp": interval.diff, "low_pp": interval.low, "high_pp": interval.high,
                            "df": interval.to_dict()["df"], "t": interval.t, "se_pp": interval.se,
                            "status": PASS if ok else FAIL, "welch": welch.to_dict(),
                            "paired": None if paired is None else paired.to_dict()})
        detail = (f"difference {interval.diff:+.3f} pp, interval [{interval.low:+.3f}, {interval.high:+.3f}] pp "
                  f"({_interval_words(interval.method, confidence, interval.df)}); it must lie within ±{tol:g} pp")
        other = welch if use_paired else paired
        if other is not None:
            detail += (f"; the {'Welch' if use_paired else 'paired'} interval is [{other.low:+.3f}, {other.high:+.3f}] pp")
        if not ok and abs(interval.diff) < tol:
            if use_paired:
                d = [100 * (by_seed[k] - ref_by_seed[k]) for k in sorted(by_seed)]
                need = seeds_needed(summarize(d).std, 0.0, interval.diff, tol, confidence, paired=True)
            else:
                need = seeds_needed(100 * acc["std"], 100 * ref_acc["std"], interval.diff, tol, confidence)
            detail += ("; inconclusive rather than different: the difference is inside the tolerance but the "
                       "interval is wider" + (f" — about {need} seeds per backend would narrow it enough at this "
                                              "spread" if need else ""))
        result.checks.append(Check(
            LEVEL, "mean test accuracy difference", backend.name, reference, PASS if ok else FAIL, acc_key,
            f"{100 * acc['mean']:.3f} %", f"{100 * ref_acc['mean']:.3f} %",
            max(abs(interval.low), abs(interval.high)), tol, "largest |interval bound| in pp", detail=detail))
    result.data["comparisons"] = comparisons
    return result, info
