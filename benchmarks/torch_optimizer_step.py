"""Per-step cost of dnnc's torch optimizers against stock ``torch.optim``, in one process.

The network is the reference 784-256-128-64-10 batch-norm/ReLU/dropout MLP of
examples/mnist_bn_dropout.toml, trained on a fixed set of random batches of 64
(synthetic data: no dataset needed). Two measurements, each for Adam (dnnc
defaults) and SGD with momentum 0.9 (lr 0.01):

  full step   dnnc      ``TorchModel.train_step`` (forward, loss, backward, optimizer) with dnnc's optimizer
              <label>   the same, with another optimizers module: --baseline FILE (label: the file's stem)
                        and --baseline-rev REV (label: REV), each repeatable (optional)
              stock     a hand-written loop: nn.Sequential, CrossEntropyLoss on logits, stock
                        ``torch.optim.Adam(eps=1e-7)`` / ``torch.optim.SGD(momentum=0.9)`` with their
                        CPU defaults (for-loop implementation), ``loss.item()`` every step
              stock-foreach  the same loop with ``foreach=True``
  step only   ``optimizer.step()`` alone on the dnnc model's parameters with fixed gradients,
              dnnc / <label>s / stock / stock-foreach optimizers

Torch runs on one thread (``torch.set_num_threads(1)``) so that other processes on a shared
machine disturb it less; the variants are interleaved (their order rotates every round) and
the medians over the rounds are reported, with the ratios to the stock loop.

    python benchmarks/torch_optimizer_step.py [--rounds 9] [--steps 100]
    python benchmarks/torch_optimizer_step.py --baseline-rev 8d24f0b  # vs the per-parameter implementation
    python benchmarks/torch_optimizer_step.py --baseline old_optimizers.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "mnist_bn_dropout.toml"
MODULE_PATH = "dnnc/backends/torch/optimizers.py"
BATCH, N_BATCHES = 64, 16
OPTIMIZERS = {
    "adam": {"type": "adam"},  # lr 1e-3, β 0.9/0.999, ε 1e-7
    "sgd-momentum": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.9},
}


def stock_optimizer(kind: str, params, foreach: bool | None) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7, foreach=foreach)
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=foreach)


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"baseline_optimizers_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_modules(args) -> dict[str, object]:
    """label → optimizers module, for every --baseline and --baseline-rev."""
    out = {}
    for path in args.baseline or []:
        out[Path(path).stem] = load_module(Path(path))
    for rev in args.baseline_rev or []:
        text = subprocess.run(["git", "show", f"{rev}:{MODULE_PATH}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        tmp = Path(tempfile.mkdtemp()) / "optimizers.py"
        tmp.write_text(text)
        out[rev] = load_module(tmp)
    return out


def batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.random((BATCH, 784), dtype=np.float32), rng.integers(0, 10, BATCH).astype(np.int64))
            for _ in range(N_BATCHES)]


def dnnc_model(kind: str, optimizer_module=None):
    """(TorchModel, one-step function) for the reference network with optimizer `kind`."""
    from dnnc.backends.torch import TorchBackend
    from dnnc.compiler.compile import compile_spec
    from dnnc.compiler.initial_weights import initial_weights

    spec = tomllib.loads(SPEC.read_text())
    spec["training"]["optimizer"] = OPTIMIZERS[kind]
    ir = compile_spec(spec, name="bench")
    model = TorchBackend().build(ir, initial_weights(ir, 0))
    if optimizer_module is not None:  # a baseline: same model, the other implementation
        model._optimizer = optimizer_module.build_torch_optimizer(
            [(key, p) for key, p, _ in model._trainable], ir.training.optimizer)
    (name,) = ir.inputs
    target = ir.outputs[0].name
    data = [({name: x}, {target: y}) for x, y in batches()]
    lr = 1e-3 if kind == "adam" else 0.01
    state = {"i": 0}

    def step():
        inputs, targets = data[state["i"] % N_BATCHES]
        state["i"] += 1
        model.train_step(inputs, targets, learning_rate=lr)

    return model, step


def stock_loop(kind: str, foreach: bool | None) -> Callable[[], None]:
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256, eps=1e-3, momentum=0.01), nn.ReLU(),
                          nn.Linear(256, 128), nn.BatchNorm1d(128, eps=1e-3, momentum=0.01), nn.ReLU(),
                          nn.Dropout(0.3),
                          nn.Linear(128, 64), nn.BatchNorm1d(64, eps=1e-3, momentum=0.01), nn.ReLU(),
                          nn.Linear(64, 10))
    model.train()
    opt = stock_optimizer(kind, model.parameters(), foreach)
    loss_fn = nn.CrossEntropyLoss()
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches()]
    state = {"i": 0}

    def step():
        x, y = data[state["i"] % N_BATCHES]
        state["i"] += 1
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return step


def step_only(kind: str, make: Callable) -> Callable[[], None]:
    """optimizer.step() alone, on the dnnc model's parameters with one fixed set of gradients."""
    model, _ = dnnc_model(kind)
    params = [(key, p) for key, p, _ in model._trainable]
    rng = np.random.default_rng(1)
    for _, p in params:
        p.grad = torch.from_numpy((rng.standard_normal(tuple(p.shape)) * 1e-2).astype(np.float32))
    opt = make(params)
    return opt.step


def variants(kind: str, baselines: dict[str, object]) -> dict[str, Callable[[], None]]:
    from dnnc.backends.torch.optimizers import build_torch_optimizer

    opt_ir = _opt_ir(kind)
    out = {"full/dnnc": dnnc_model(kind)[1]}
    for label, module in baselines.items():
        out[f"full/{label}"] = dnnc_model(kind, module)[1]
    out["full/stock"] = stock_loop(kind, None)
    out["full/stock-foreach"] = stock_loop(kind, True)
    out["step/dnnc"] = step_only(kind, lambda p: build_torch_optimizer(p, opt_ir))
    for label, module in baselines.items():
        out[f"step/{label}"] = step_only(kind, lambda p, m=module: m.build_torch_optimizer(p, opt_ir))
    out["step/stock"] = step_only(kind, lambda p: stock_optimizer(kind, [q for _, q in p], None))
    out["step/stock-foreach"] = step_only(kind, lambda p: stock_optimizer(kind, [q for _, q in p], True))
    return out


def _opt_ir(kind: str) -> dict:
    from pydantic import TypeAdapter

    from dnnc.spec_schema.optimizers import OptimizerSpec

    return TypeAdapter(OptimizerSpec).validate_python(OPTIMIZERS[kind]).model_dump()


def time_per_step(fn: Callable[[], None], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (the median is reported)")
    parser.add_argument("--steps", type=int, default=100, help="steps timed per variant and round")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--baseline", action="append", metavar="FILE",
                        help="another optimizers.py to time (repeatable)")
    parser.add_argument("--baseline-rev", action="append", metavar="REV",
                        help=f"a git revision whose {MODULE_PATH} is timed (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    baselines = baseline_modules(args)

    report: dict[str, dict[str, float]] = {}
    for kind in OPTIMIZERS:
        fns = variants(kind, baselines)
        for fn in fns.values():
            for _ in range(args.warmup):
                fn()
        samples: dict[str, list[float]] = {name: [] for name in fns}
        names = list(fns)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order every round
                samples[name].append(time_per_step(fns[name], args.steps))
        med = {name: statistics.median(v) for name, v in samples.items()}
        report[kind] = med
        print(f"\n{kind}: ms per step, median of {args.rounds} interleaved rounds of {args.steps} steps "
              f"(torch threads = {args.threads})")
        for name, ms in med.items():
            spread = f"[{min(samples[name]):.3f} – {max(samples[name]):.3f}]"
            print(f"  {name:24s} {ms:8.3f}  {spread}")
        for part in ("full", "step"):
            stock = med[f"{part}/stock"]
            line = (f"  {part}: dnnc / stock = {med[f'{part}/dnnc'] / stock:.2f} "
                    f"(dnnc − stock = {med[f'{part}/dnnc'] - stock:+.3f} ms), "
                    f"dnnc / stock-foreach = {med[f'{part}/dnnc'] / med[f'{part}/stock-foreach']:.2f}")
            print(line)
            for label in baselines:
                other = med[f"{part}/{label}"]
                print(f"  {part}: {label} / stock = {other / stock:.2f}, dnnc / {label} = "
                      f"{med[f'{part}/dnnc'] / other:.2f} (dnnc − {label} = {med[f'{part}/dnnc'] - other:+.3f} ms)")
    print(json.dumps({"threads": args.threads, "rounds": args.rounds, "steps": args.steps,
                      "median_ms_per_step": report}))


if __name__ == "__main__":
    sys.exit(main())
