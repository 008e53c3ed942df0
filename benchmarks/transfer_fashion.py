"""Transfer learning, measured: reusing the hidden layers of a Fashion-MNIST network for a task with 200 images.

The classic exercise (examples/transfer/):

  task A  fashion_a_eight_classes.toml: the 300-100 ReLU network, SGD 0.01, on the eight classes that are
          neither sandals (5) nor shirts (6); trained once per backend (seed 0) with `dnnc train`, into
          RUNS/fashion-a-<backend>;
  task B  "sandal or shirt" (shirt = 1) from only 200 training images, 1000 validation images, tested on
          the 2000 sandal and shirt test images, 20 epochs:
            transfer     fashion_b_sandal_or_shirt.toml with init_from = task A's run: hidden1 and hidden2
                         copied and frozen for 4 epochs (only the new output unit trains, SGD 0.01), then
                         unfrozen with learning rate 1e-4 (the two-phase recipe of Géron's book, 2nd ed.);
            fresh        fashion_b_fresh.toml: the same network from weights drawn from the seed, SGD 0.01;
            fresh-0.001  the same with SGD 0.001 (the book's baseline for this comparison).

Every task-B run of a seed shares the batch order and the output layer's initial weights between the two
conditions.  Each backend runs in its own process; the task-B runs use the shared runner in memory (no
run directory).  Prints per backend and condition the mean ± sample standard deviation of the test
accuracy over the seeds, every seed's value, and writes everything as JSON.

    python benchmarks/transfer_fashion.py [--backends keras,torch] [--seeds 5] [--a-epochs N]
        [--runs runs/transfer] [--out benchmarks/results/transfer_fashion.json]

Needs DNNC_DATA_DIR (or the usual dataset locations) and the frameworks of the chosen backends.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "transfer"
SPEC_A = EXAMPLES / "fashion_a_eight_classes.toml"
#: condition → (spec, extra --set overrides)
CONDITIONS = {
    "transfer": (EXAMPLES / "fashion_b_sandal_or_shirt.toml", []),
    "fresh": (EXAMPLES / "fashion_b_fresh.toml", []),
    "fresh-0.001": (EXAMPLES / "fashion_b_fresh.toml", ["training.optimizer.learning_rate=0.001"]),
}


def train_b(spec: Path, extra: list[str], backend: str, seed: int, source: Path | None, cache: dict) -> dict:
    """One task-B run in memory: test accuracy and loss, and the history."""
    from dnnc.runner.api import compile_with_overrides, get_backend, load_datasets, starting_weights
    from dnnc.runner.callbacks.factory import build_callbacks
    from dnnc.runner.context import CallbackContext
    from dnnc.runner.loop import Trainer

    overrides = [f"training.seed={seed}", *extra]
    if source is not None:
        overrides.append(f'model.init_from.run="{source}"')
    _, ir = compile_with_overrides(spec, overrides)
    if "data" not in cache:  # the same rows for every run (the seed only orders the batches)
        cache["data"] = load_datasets(ir, base_dir=spec.parent)
    weights, report = starting_weights(ir, spec.parent)
    model = get_backend(backend, ir).build(ir, weights)
    callbacks = build_callbacks(ir.training.callbacks, CallbackContext(ir=ir, run_dir=None, message=lambda t: None))
    history = Trainer(model, ir, cache["data"], callbacks=callbacks).fit()
    return {"seed": seed, "test_accuracy": history.test["test_accuracy"], "test_loss": history.test["test_loss"],
            "val_accuracy": history.history["val_accuracy"], "copied": [] if report is None else report.copied}


def worker(backend: str, seeds: int, a_epochs: int | None, runs: Path) -> dict:
    from dnnc.runner.api import train_spec

    started = time.perf_counter()
    run_a = runs / f"fashion-a-{backend}"
    result_a = train_spec(SPEC_A, backend=backend, epochs=a_epochs, out=run_a, progress="quiet")
    a_seconds = time.perf_counter() - started
    out = {"backend": backend, "a": {"run": str(run_a), "epochs": result_a.ir.training.epochs,
                                     "test": result_a.test_metrics, "seconds": round(a_seconds, 1)}, "b": {}}
    cache: dict = {}
    for condition, (spec, extra) in CONDITIONS.items():
        source = run_a.resolve() if condition == "transfer" else None
        out["b"][condition] = [train_b(spec, extra, backend, seed, source, cache) for seed in range(seeds)]
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def summary(results: list[dict]) -> str:
    lines = ["| backend | condition | test accuracy, mean ± sd (%) | per seed (%) |", "|---|---|--:|---|"]
    for result in results:
        for condition, runs in result["b"].items():
            acc = [100 * r["test_accuracy"] for r in runs]
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            lines.append(f"| {result['backend']} | {condition} | {statistics.mean(acc):.2f} ± {sd:.2f} | "
                         + ", ".join(f"{a:.2f}" for a in acc) + " |")
    for result in results:
        a = result["a"]
        lines.append(f"\ntask A ({result['backend']}, {a['epochs']} epochs, {a['seconds']} s): test accuracy "
                     f"{100 * a['test']['test_accuracy']:.2f} % on the eight classes")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="keras,torch")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--a-epochs", type=int, default=None, help="Task A's epochs (default: the spec's).")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "transfer")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "transfer_fashion.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.seeds, args.a_epochs, args.runs.resolve())))
        return
    results = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for backend in args.backends.split(","):
        extra = [] if args.a_epochs is None else ["--a-epochs", str(args.a_epochs)]
        proc = subprocess.run([sys.executable, __file__, "--worker", backend, "--seeds", str(args.seeds), *extra,
                               "--runs", str(args.runs)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"{backend} failed:\n{proc.stderr}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "seeds": args.seeds, "results": results},
                                   indent=2) + "\n")
    print(summary(results))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
