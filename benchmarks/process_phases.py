"""Whole-process cost of `dnnc train`, phase by phase, against the hand-written DataLoader program.

Each repeat runs, one after the other in fresh subprocesses (interleaved, so slow drifts of the machine hit
all alike):

  dnnc-<backend>   `python -m dnnc train SPEC --backend B --epochs N --out TMP -q`, for each --backend
  torch-loop       the hand-written PyTorch DataLoader program of benchmarks/train_speed.py (its `TORCH`
                   program for the same network; needs a spec that train_speed.py knows)

For each dnnc process the phases come from the run's own record, manifest.json's `phases`
(dnnc/runner/phases.py): compile, data (loading + SHA-256 checksums + preparing the splits),
backend_build (includes importing the framework), weights_init, records_start, optimizer_build, epochs,
test, and each file written. Two more are measured from the outside:

  startup   process launch → the start of train_spec (interpreter start, importing dnnc and its CLI)
  exit      the manifest's last write → process exit (the CLI's last lines, interpreter shut-down)

and `wall` is the whole process, launch to exit. With --code LABEL=DIR (repeatable) the same runs are made
with the dnnc checkout in DIR (e.g. before/after a change); a checkout without the phases record reports
only its wall time and its epochs (from history.json).

    python benchmarks/process_phases.py [--spec examples/mnist_bn_dropout.toml] [--epochs 2] [--repeats 3]
        [--backend torch --backend keras] [--threads 1] [--code before=/path/to/old/checkout] [--json out.json]

Prints each run, then the median of each phase over the repeats and the ratio of dnnc's whole-process
time to the hand-written program's. Needs DNNC_DATA_DIR (or the usual dataset locations).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed  # the hand-written programs: reused, not copied

PHASE_ORDER = ("startup", "compile", "data", "backend_build", "weights_init", "records_start", "optimizer_build",
               "epochs", "test", "history", "metrics", "weights", "model", "learning_curves", "exit", "wall")


def thread_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads),
                   TF_NUM_INTEROP_THREADS=str(threads))
    return env


def python_path(checkout: Path) -> str:
    parts = [str(checkout)]
    plugin = checkout / "examples" / "plugins" / "dnnc-numpy"
    if plugin.is_dir():
        parts.append(str(plugin))
    return os.pathsep.join(parts)


def run_dnnc(checkout: Path, backend: str, spec: Path, epochs: int, threads: int | None) -> dict[str, float]:
    """One `dnnc train` process: its phases (seconds)."""
    env = thread_env(threads)
    env["PYTHONPATH"] = python_path(checkout)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "dnnc", "train", str(spec), "--backend", backend, "--epochs", str(epochs),
                   "--out", str(out), "-q"]
        launched = time.time()
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp, env=env, check=False)
        ended = time.time()
        if done.returncode != 0:
            raise SystemExit(f"dnnc train failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        manifest = json.loads((out / "manifest.json").read_text())
        history = json.loads((out / "history.json").read_text())
        files = sorted(p.name for p in out.iterdir())
    record = manifest.get("phases")
    phases: dict[str, float] = {"wall": ended - launched}
    if record is None:  # a checkout from before the phases record
        phases["epochs"] = float(sum(history.get("epoch_seconds", [])))
    else:
        phases.update(record["seconds"])
        phases["startup"] = record["started_unix"] - launched
        phases["exit"] = ended - (record["started_unix"] + record["total_seconds"])
    phases["files"] = files  # type: ignore[assignment]
    phases["test_accuracy"] = manifest.get("test_metrics", {}).get("test_accuracy")  # type: ignore[assignment]
    return phases


def run_reference(net: train_speed.Network, epochs: int, threads: int | None) -> dict[str, float]:
    """The hand-written DataLoader program of train_speed.py: its whole-process wall time."""
    code, argv = train_speed.programs(net, epochs, tuned=False)["torch-loop"](None)
    env = thread_env(threads)
    env["PYTHONPATH"] = python_path(ROOT)  # it locates the data set with dnnc's locate_dataset
    launched = time.time()
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                          check=False)
    ended = time.time()
    if done.returncode != 0:
        raise SystemExit(f"the hand-written program failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall": ended - launched, "epochs": result["seconds"], "test_accuracy": result["test_accuracy"]}


def network_of(spec: Path) -> train_speed.Network | None:
    for net in train_speed.NETWORKS.values():
        if (ROOT / net.spec).resolve() == spec.resolve():
            return net
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=ROOT / "examples" / "mnist_bn_dropout.toml")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", action="append", choices=("torch", "keras"),
                        help="dnnc backend (repeatable; default: torch and keras)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS / TF intra- and inter-op threads for every program (default: theirs)")
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR",
                        help="also run dnnc from the checkout DIR, labelled LABEL (repeatable)")
    parser.add_argument("--no-reference", action="store_true", help="skip the hand-written program")
    parser.add_argument("--json", type=Path, help="also write every run's numbers to this file")
    args = parser.parse_args()
    checkouts = {"dnnc": ROOT}
    for item in args.code:
        label, sep, directory = item.partition("=")
        if not sep or not label or not Path(directory).is_dir():
            parser.error(f"--code must be LABEL=DIR with an existing DIR (received {item!r})")
        checkouts[label] = Path(directory).resolve()
    net = None if args.no_reference else network_of(args.spec)
    if net is None and not args.no_reference:
        print(f"note: benchmarks/train_speed.py has no hand-written program for {args.spec}; no reference run")
    programs: dict[str, Callable[[], dict]] = {}
    for label, checkout in checkouts.items():
        for backend in args.backend or ["torch", "keras"]:
            programs[f"{label}-{backend}"] = (lambda c=checkout, b=backend:
                                              run_dnnc(c, b, args.spec, args.epochs, args.threads))
    if net is not None:
        programs["torch-loop"] = lambda: run_reference(net, args.epochs, args.threads)
    runs: dict[str, list[dict]] = {name: [] for name in programs}
    for r in range(args.repeats):
        for name, program in programs.items():
            result = program()
            runs[name].append(result)
            shown = "  ".join(f"{k} {result[k]:.2f}" for k in PHASE_ORDER if k in result)
            print(f"run {r + 1}/{args.repeats} {name:14s} {shown}  test accuracy {result['test_accuracy']:.4f}",
                  flush=True)
    medians = {name: {k: statistics.median(x[k] for x in res) for k in PHASE_ORDER if all(k in x for x in res)}
               for name, res in runs.items()}
    print(f"\n{args.spec.name}, {args.epochs} epochs, median seconds of {args.repeats} runs "
          f"(threads: {args.threads or 'default'}):")
    names = list(medians)
    print(f"  {'phase':16s}" + "".join(f"{n:>15s}" for n in names))
    for phase in PHASE_ORDER:
        if any(phase in medians[n] for n in names):
            print(f"  {phase:16s}" + "".join(f"{medians[n][phase]:15.2f}" if phase in medians[n] else f"{'':>15s}"
                                             for n in names))
    if "torch-loop" in medians:
        for name in names:
            if name.endswith("-torch"):
                print(f"  ratio {name} / torch-loop (whole process) = "
                      f"{medians[name]['wall'] / medians['torch-loop']['wall']:.2f}")
    for name in names:
        if runs[name] and "files" in runs[name][0]:
            print(f"  files of a {name} run: {', '.join(runs[name][0]['files'])}")
    report = {"spec": str(args.spec), "epochs": args.epochs, "repeats": args.repeats, "threads": args.threads,
              "medians": medians, "runs": runs}
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({"medians": medians}))


if __name__ == "__main__":
    main()
