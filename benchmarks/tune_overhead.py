"""Per-trial overhead of `dnnc tune` against the training time of its trials.

Runs TRIALS trials of examples/housing_search.toml (early stopping removed and the epochs fixed, so
every trial trains the same number of epochs) in one long-lived worker, with the random sampler.
For each trial:

  training   the sum of its per-epoch times (training steps + the validation pass), from history.json
  trial      the trial's wall time as the objective measured it (sampling, compiling the spec with the
             trial's overrides, building the model, training, the test pass, writing the run directory:
             history, metrics, weights, model file, learning-curves PNG)
  overhead   trial − training

The first trial of a worker also pays the framework import and the data load; later trials reuse
both.  For comparison, one `dnnc train` of the same spec in a fresh process (what a trial would cost
if each trial were a new process) is timed from outside: its wall time minus its training time.

    python benchmarks/tune_overhead.py [--backend torch] [--trials 6] [--epochs 10]

Writes benchmarks/results/tune_overhead-<backend>.json.  Prints the machine's load average before and
after: other processes on the machine slow every number down alike.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "housing_search.toml"


def fixed_epochs_spec(directory: Path, epochs: int) -> Path:
    """The example without early stopping, with ``epochs`` epochs, next to its data."""
    text = SPEC.read_text()
    head, _, rest = text.partition("[[training.callbacks]]")
    rest = rest[rest.index("[search]"):]
    head = head.replace("epochs = 30", f"epochs = {epochs}")
    head = head.replace('path = "data/housing_like.npz"', f'path = "{ROOT / "examples" / "data" / "housing_like.npz"}"')
    path = directory / "housing_fixed.toml"
    path.write_text(head + rest)
    return path


def history_seconds(run_dir: Path) -> float:
    return float(sum(json.loads((run_dir / "history.json").read_text())["epoch_seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    from rich.console import Console

    from dnnc.tune import tune

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = fixed_epochs_spec(tmp, args.epochs)
        started = time.perf_counter()
        result = tune(spec, backend=args.backend, trials=args.trials, out=tmp / "tune",
                      console=Console(file=io.StringIO()))
        wall = time.perf_counter() - started
        rows = sorted(result.rows, key=lambda r: r.number)
        trials = []
        for r in rows:
            training = history_seconds(Path(r.run_dir))
            trials.append({"number": r.number, "trial_seconds": r.seconds, "training_seconds": round(training, 3),
                           "overhead_seconds": round(r.seconds - training, 3),
                           "params": r.params})
        later = trials[1:]
        fresh_started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dnnc", "train", str(spec), "--backend", args.backend, "--quiet",
                        "--out", str(tmp / "fresh")], check=True, capture_output=True)
        fresh_wall = time.perf_counter() - fresh_started
        fresh_training = history_seconds(tmp / "fresh")
    load_after = os.getloadavg()

    summary = {
        "backend": args.backend, "trials": args.trials, "epochs": args.epochs, "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "tune_wall_seconds": round(wall, 2),
        "first_trial": trials[0],
        "later_trials_median_overhead_seconds": round(statistics.median(t["overhead_seconds"] for t in later), 3),
        "later_trials_median_training_seconds": round(statistics.median(t["training_seconds"] for t in later), 3),
        "later_trials_overhead_fraction": round(sum(t["overhead_seconds"] for t in later)
                                                / sum(t["trial_seconds"] for t in later), 3),
        "fresh_process_train": {"wall_seconds": round(fresh_wall, 2), "training_seconds": round(fresh_training, 3),
                                "overhead_seconds": round(fresh_wall - fresh_training, 2)},
        "trials_detail": trials,
    }
    out = ROOT / "benchmarks" / "results" / f"tune_overhead-{args.backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"backend {args.backend}, {args.trials} trials × {args.epochs} epochs, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after")
    print(f"first trial: {trials[0]['trial_seconds']:.2f} s, of which training {trials[0]['training_seconds']:.2f} s "
          f"(import + data load + build + records: {trials[0]['overhead_seconds']:.2f} s)")
    print(f"later trials (median): overhead {summary['later_trials_median_overhead_seconds']:.3f} s per trial "
          f"against {summary['later_trials_median_training_seconds']:.3f} s of training "
          f"({100 * summary['later_trials_overhead_fraction']:.1f} % of their wall time)")
    print(f"one `dnnc train` in a fresh process: {fresh_wall:.2f} s wall, {fresh_training:.3f} s training "
          f"→ {fresh_wall - fresh_training:.2f} s overhead")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
