"""The GPU check: conformance of torch on the CPU and on CUDA, and the training speed on both, in one run.

On a machine where torch sees a CUDA GPU:

1. **Conformance.** ``dnnc conform`` compares ``torch@cpu`` with ``torch@cuda`` like two backends: the
   structure and numeric levels (each device against the float64 oracle, every element within its
   float32 error bound; TF32 is off on the GPU, see docs/performance.md), and with ``--training`` also the
   training level.  When TensorFlow sees a GPU too, ``keras@cpu`` against ``keras@cuda`` the same way.
2. **Speed.** Seconds per epoch of the spec (default: the lecture's 256-128-64 batch-norm/dropout network,
   examples/mnist_bn_dropout.toml) with ``dnnc train --device cpu`` and ``--device cuda``, and of a
   hand-written PyTorch loop over tensor slices on the GPU, each in a fresh subprocess, interleaved,
   median of ``--repeats`` runs; then the ratios. Also ``dnnc train --device cuda`` with
   ``training.compile = true`` (torch.compile with CUDA graphs) against the hand-written loop with its step
   ``torch.compile``d (``mode="reduce-overhead"``, warmed up before its clock starts).

On a machine without a CUDA GPU it says so, measures nothing and exits 0 (there is nothing to compare, and
no number is made up).  Exit status otherwise: 0 when every conformance check passes, 1 when one fails.

    python benchmarks/gpu_check.py [--spec examples/mnist_bn_dropout.toml] [--epochs 2] [--repeats 3]
                                   [--training] [--json results.json]

Needs the spec's data (DNNC_DATA_DIR or the usual dataset locations).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "mnist_bn_dropout.toml"

DNNC = r"""
import json, sys
from dnnc.runner.api import train_spec
backend, device, epochs, out, spec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
result = train_spec(spec, backend=backend, device=device, epochs=epochs, out=out, progress="quiet",
                    overrides=sys.argv[6:])
seconds = result.history.epoch_seconds
print(json.dumps({"seconds_per_epoch": sum(seconds) / len(seconds), "device": result.model.device,
                  "test_accuracy": result.test_metrics.get("test_accuracy")}))
"""

#: The spec's network by hand on the GPU: data resident on the device, batches by index slicing (MNIST only).
TORCH_SLICES = r"""
import json, sys, time
import numpy as np, torch
from torch import nn
from dnnc.compiler.compile import compile_spec
from dnnc.runner.api import load_datasets
spec, epochs, compiled = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "compiled"
ir = compile_spec(spec)
data = load_datasets(ir, base_dir=None)
name = ir.inputs[0]
out = ir.outputs[0].name
dev = torch.device("cuda")
x = torch.from_numpy(np.ascontiguousarray(data.train.inputs[name].reshape(data.train.n, -1))).to(dev)
y = torch.from_numpy(np.asarray(data.train.targets[out], dtype=np.int64)).to(dev)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(x.shape[1], 256), nn.BatchNorm1d(256), nn.ReLU(),
                      nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3),
                      nn.Linear(128, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 10)).to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
batch = ir.training.batch_size
def step(xb, yb):
    opt.zero_grad(set_to_none=True)
    loss_fn(model(xb), yb).backward()
    opt.step()
if compiled:  # compiled and warmed up on the full and the last partial batch's shape before the clock starts
    step = torch.compile(step, mode="reduce-overhead")
    for size in {batch, x.shape[0] % batch} - {0}:
        step(x[:size], y[:size])
times = []
for epoch in range(epochs):
    torch.cuda.synchronize()
    t = time.perf_counter()
    model.train()
    order = torch.randperm(x.shape[0], device=dev)
    for start in range(0, x.shape[0], batch):
        idx = order[start:start + batch]
        step(x[idx], y[idx])
    torch.cuda.synchronize()
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds_per_epoch": sum(times) / len(times), "device": "cuda:0", "test_accuracy": None}))
"""


def cuda_status() -> tuple[bool, str]:
    """(whether torch sees a CUDA GPU, a one-line description of what it sees)."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a build without CUDA support"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no CUDA GPU"
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return True, f"torch {torch.__version__} (CUDA {torch.version.cuda}): {names}"


def tf_sees_gpu() -> bool:
    from dnnc.backends.devices import DeviceError
    from dnnc.runner.api import get_backend

    try:
        get_backend("keras", device="cuda")
    except DeviceError:
        return False
    except Exception:  # keras not installed or not usable
        return False
    return True


def conformance(spec: Path, backends: list[str], levels: tuple[str, ...]) -> dict:
    from dnnc.compiler.compile import compile_spec
    from dnnc.conformance.conform import run_conform
    from dnnc.conformance.options import ConformOptions
    from dnnc.conformance.report import print_report
    from dnnc.console import make_console

    report = run_conform(compile_spec(spec), backends, ConformOptions(levels=levels), spec_path=spec)
    print_report(report, make_console())
    return {"backends": backends, "verdict": report.verdict, "report": report.to_dict()}


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"benchmark program failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed(spec: Path, epochs: int, repeats: int, hand_written: bool) -> dict:
    programs = {
        "dnnc-torch@cpu": lambda d: run(DNNC, "torch", "cpu", str(epochs), d, str(spec)),
        "dnnc-torch@cuda": lambda d: run(DNNC, "torch", "cuda", str(epochs), d, str(spec)),
        "dnnc-torch-compiled@cuda": lambda d: run(DNNC, "torch", "cuda", str(epochs), d, str(spec),
                                                  "training.compile=true"),
    }
    if hand_written:
        programs["torch-slices@cuda"] = lambda d: run(TORCH_SLICES, str(spec), str(epochs), "eager")
        programs["torch-compiled@cuda"] = lambda d: run(TORCH_SLICES, str(spec), str(epochs), "compiled")
    results: dict[str, list[dict]] = {k: [] for k in programs}
    for r in range(repeats):
        for name, fn in programs.items():  # interleaved, so slow drifts of the machine hit all alike
            with tempfile.TemporaryDirectory() as d:
                res = fn(d)
            results[name].append(res)
            print(f"run {r + 1}/{repeats} {name:24s} {res['seconds_per_epoch']:7.3f} s/epoch ({res['device']})",
                  flush=True)
    med = {k: statistics.median(x["seconds_per_epoch"] for x in v) for k, v in results.items()}
    ratios = {"dnnc cuda / dnnc cpu": med["dnnc-torch@cuda"] / med["dnnc-torch@cpu"]}
    if hand_written:
        ratios["dnnc cuda / hand-written cuda"] = med["dnnc-torch@cuda"] / med["torch-slices@cuda"]
        ratios["dnnc compiled cuda / hand-written compiled cuda"] = (med["dnnc-torch-compiled@cuda"]
                                                                     / med["torch-compiled@cuda"])
    print(f"\n{spec.name}, {epochs} epochs, median of {repeats} runs (seconds per epoch):")
    for name, secs in med.items():
        print(f"  {name:24s} {secs:7.3f}")
    for name, ratio in ratios.items():
        print(f"  ratio {name} = {ratio:.2f}")
    return {"median_seconds_per_epoch": med, "ratios": ratios, "runs": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--training", action="store_true", help="Also run the conformance training level.")
    parser.add_argument("--no-speed", action="store_true", help="Only the conformance check.")
    parser.add_argument("--json", type=Path, help="Write the results to this file.")
    args = parser.parse_args(argv)

    has_cuda, detail = cuda_status()
    if not has_cuda:
        print(f"no CUDA GPU on this machine ({detail}): the GPU check has nothing to compare, so nothing was "
              "measured (run it on a machine with a CUDA GPU)")
        return 0
    print(f"GPU: {detail}")
    levels = ("structure", "numeric", "training") if args.training else ("structure", "numeric")
    checks = [conformance(args.spec, ["torch@cpu", "torch@cuda"], levels)]
    if tf_sees_gpu():
        checks.append(conformance(args.spec, ["keras@cpu", "keras@cuda"], levels))
    else:
        print("TensorFlow sees no GPU here: keras@cpu vs keras@cuda not checked")
    results: dict = {"gpu": detail, "conformance": [{k: c[k] for k in ("backends", "verdict")} for c in checks]}
    if not args.no_speed:
        hand_written = args.spec.resolve() == SPEC.resolve()  # the hand-written program is this network
        results["speed"] = speed(args.spec, args.epochs, args.repeats, hand_written)
    if args.json is not None:
        results["conformance_reports"] = [c["report"] for c in checks]
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0 if all(c["verdict"] == "PASS" for c in checks) else 1


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
