"""Training speed: dnnc's shared runner against hand-written Keras and PyTorch programs, in one run.

Each network is trained for EPOCHS epochs on MNIST by dnnc (both backends) and by hand-written
programs of the same network, each in a fresh subprocess so that no framework state is shared:

  dnnc-keras     `dnnc train` with --backend keras
  keras-fit      hand-written Keras: Sequential model, model.fit with its defaults (shuffle, validation_split)
  dnnc-torch     `dnnc train` with --backend torch
  torch-loop     hand-written PyTorch: TensorDataset + DataLoader(shuffle=True), a plain training loop
                 with a validation pass per epoch (images in torch's own channels-first layout for the CNN)

With --tuned, two hand-tuned programs are added (issue 18's reference points):

  keras-fit-spe  model.fit with steps_per_execution=16
  torch-compiled a torch.compile'd training step over tensor slices of a permutation (no DataLoader),
                 compiled and warmed up (two steps) before its clock starts
  dnnc-torch-compiled
                 `dnnc train --backend torch` with training.compile = true (compiled before the first epoch)

Networks (--network, repeatable; default: all):

  mlp   examples/mnist_bn_dropout.toml  256-128-64 BN/ReLU/dropout 0.3, Adam, batch 64, validation 0.2
  cnn   examples/mnist_cnn.toml         conv 32 → pool → conv 64 → pool → dropout 0.5 → dense, Adam, batch 128
  lstm  examples/mnist_lstm.toml        LSTM 128 over 28 rows of 28 pixels → dense, Adam, batch 128
  sgd   examples/fashion_mlp_sgd.toml   Fashion-MNIST 300-100 ReLU, SGD 0.01, batch 32 (callbacks left out)

Each program times its own epochs (training and the validation pass; data already in memory, framework
imported, model built; dnnc: the sum of its per-epoch times), so interpreter start-up and imports are
excluded for all alike. The programs of one repeat run one after the other (interleaved), so slow drifts
of the machine hit all alike. Prints the median of REPEATS runs and the ratios dnnc / hand-written
(< 1 means dnnc is faster), and the peak resident memory of each program (ru_maxrss).

    python benchmarks/train_speed.py [--network cnn] [--epochs 2] [--repeats 3] [--tuned] [--threads N]

Needs DNNC_DATA_DIR (or the usual dataset locations) and both frameworks installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = r"""
import gzip, json, os, resource, sys, time
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
def load(dataset, shape):
    from dnnc.runner.datasets import locate_dataset
    files = locate_dataset(dataset).files
    def idx(key):
        raw = open(files[key], 'rb').read()
        return np.frombuffer(gzip.decompress(raw) if str(files[key]).endswith('.gz') else raw, np.uint8)
    xtr = idx('train_images')[16:].reshape(-1, *shape).astype('float32') / 255
    ytr = idx('train_labels')[8:].astype('int64')
    xte = idx('test_images')[16:].reshape(-1, *shape).astype('float32') / 255
    yte = idx('test_labels')[8:].astype('int64')
    return xtr, ytr, xte, yte
def report(seconds, accuracy):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "test_accuracy": float(accuracy), "peak_rss_mb": peak}))
epochs, batch, val_fraction, dataset = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
"""

KERAS = PRELUDE + r"""
import keras
L = keras.layers
SHAPE = {shape}
xtr, ytr, xte, yte = load(dataset, SHAPE)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input(SHAPE), {layers}])
model.compile(optimizer={optimizer}, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              steps_per_execution=int(sys.argv[5]))
t = time.perf_counter()
model.fit(xtr, ytr, batch_size=batch, epochs=epochs, validation_split=val_fraction, verbose=0)
elapsed = time.perf_counter() - t
report(elapsed, model.evaluate(xte, yte, verbose=0)[1])
"""

TORCH = PRELUDE + r"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
SHAPE = {shape}
xtr, ytr, xte, yte = load(dataset, SHAPE)
torch.manual_seed(0)
class LastStep(nn.Module):
    def forward(self, x):
        return x[0][:, -1]
model = nn.Sequential({layers})
opt = {optimizer}
loss_fn = nn.CrossEntropyLoss()
n_val = len(xtr) - int(len(xtr) * (1 - val_fraction))
xt, yt = torch.from_numpy(xtr[:-n_val]), torch.from_numpy(ytr[:-n_val])
xv, yv = torch.from_numpy(xtr[-n_val:]), torch.from_numpy(ytr[-n_val:])
def step(xb, yb):
    opt.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
    return loss
compiled = sys.argv[5] == "compiled"
if compiled:  # compiled (and warmed up on the full and the last partial batch's shape) before the clock starts
    step = torch.compile(step)
    for size in {batch, len(xt) % batch} - {0}:
        step(xt[:size], yt[:size])
t = time.perf_counter()
for epoch in range(epochs):
    model.train()
    if compiled:  # tensor slices of one permutation per epoch
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            j = perm[i:i + batch]
            step(xt[j], yt[j])
    else:
        for xb, yb in DataLoader(TensorDataset(xt, yt), batch_size=batch, shuffle=True):
            step(xb, yb)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(xv), batch):
            loss_fn(model(xv[i:i + batch]), yv[i:i + batch])
elapsed = time.perf_counter() - t
model.eval()
with torch.no_grad():
    acc = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
report(elapsed, acc)
"""

DNNC = r"""
import json, resource, sys
from dnnc.runner.api import train_spec
backend, epochs, out, spec = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
result = train_spec(spec, backend=backend, epochs=epochs, out=out, progress="quiet", overrides=sys.argv[5:])
print(json.dumps({"seconds": sum(result.history.epoch_seconds),
                  "test_accuracy": result.test_metrics.get("test_accuracy"),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@dataclass(frozen=True)
class Network:
    """One benchmarked network: its dnnc spec and the same network hand-written in each framework."""

    spec: str
    title: str
    dataset: str
    batch: int
    val_fraction: float
    keras_shape: str
    keras_layers: str
    keras_optimizer: str
    torch_shape: str
    torch_layers: str
    torch_optimizer: str
    overrides: tuple[str, ...] = ()


NETWORKS = {
    "mlp": Network(
        "examples/mnist_bn_dropout.toml", "MNIST 256-128-64 BN/dropout (Adam, batch 64)", "mnist", 64, 0.2,
        "(784,)",
        "L.Dense(256), L.BatchNormalization(), L.ReLU(), L.Dense(128), L.BatchNormalization(), L.ReLU(), "
        "L.Dropout(0.3), L.Dense(64), L.BatchNormalization(), L.ReLU(), L.Dense(10, activation='softmax')",
        "'adam'",
        "(784,)",
        "nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), "
        "nn.Dropout(0.3), nn.Linear(128, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 10)",
        "torch.optim.Adam(model.parameters(), lr=1e-3)"),
    "cnn": Network(
        "examples/mnist_cnn.toml", "MNIST CNN conv32-pool-conv64-pool-dropout (Adam, batch 128)", "mnist", 128, 0.1,
        "(28, 28, 1)",
        "L.Conv2D(32, 3, activation='relu'), L.MaxPooling2D(2), L.Conv2D(64, 3, activation='relu'), "
        "L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.5), L.Dense(10, activation='softmax')",
        "'adam'",
        "(1, 28, 28)",
        "nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), "
        "nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10)",
        "torch.optim.Adam(model.parameters(), lr=1e-3)"),
    "lstm": Network(
        "examples/mnist_lstm.toml", "MNIST LSTM 128 over 28 rows (Adam, batch 128)", "mnist", 128, 0.1,
        "(28, 28)",
        "L.LSTM(128), L.Dense(10, activation='softmax')",
        "'adam'",
        "(28, 28)",
        "nn.LSTM(28, 128, batch_first=True), LastStep(), nn.Linear(128, 10)",
        "torch.optim.Adam(model.parameters(), lr=1e-3)"),
    "sgd": Network(
        "examples/fashion_mlp_sgd.toml", "Fashion-MNIST 300-100 ReLU (SGD 0.01, batch 32)", "fashion_mnist", 32,
        5000 / 60000,
        "(784,)",
        "L.Dense(300, activation='relu'), L.Dense(100, activation='relu'), L.Dense(10, activation='softmax')",
        "keras.optimizers.SGD(0.01)",
        "(784,)",
        "nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)",
        "torch.optim.SGD(model.parameters(), lr=0.01)",
        # the hand-written programs have no checkpoint or early stopping: neither has dnnc here
        ("training.callbacks=[]",)),
}


def run(code: str, args: list[str], threads: int | None) -> dict:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads),
                   TF_NUM_INTEROP_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise SystemExit(f"benchmark program failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def programs(net: Network, epochs: int, tuned: bool):
    """name → function(tmpdir) running one program of `net`."""
    common = [str(epochs), str(net.batch), repr(net.val_fraction), net.dataset]
    keras = KERAS.replace("{shape}", net.keras_shape).replace("{layers}", net.keras_layers) \
        .replace("{optimizer}", net.keras_optimizer)
    torch = TORCH.replace("{shape}", net.torch_shape).replace("{layers}", net.torch_layers) \
        .replace("{optimizer}", net.torch_optimizer)
    spec = str(ROOT / net.spec)
    progs = {
        "dnnc-keras": lambda d: [DNNC, ["keras", str(epochs), d, spec, *net.overrides]],
        "keras-fit": lambda d: [keras, [*common, "1"]],
        "dnnc-torch": lambda d: [DNNC, ["torch", str(epochs), d, spec, *net.overrides]],
        "torch-loop": lambda d: [torch, [*common, "eager"]],
    }
    if tuned:
        progs["keras-fit-spe"] = lambda d: [keras, [*common, "16"]]
        progs["torch-compiled"] = lambda d: [torch, [*common, "compiled"]]
        progs["dnnc-torch-compiled"] = lambda d: [DNNC, ["torch", str(epochs), d, spec, *net.overrides,
                                                         "training.compile=true"]]
    return progs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", action="append", choices=sorted(NETWORKS),
                        help="network to benchmark (repeatable; default: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tuned", action="store_true", help="add the hand-tuned programs (compiled step, "
                        "steps_per_execution=16)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS / TF intra- and inter-op threads for every program (default: theirs)")
    args = parser.parse_args()
    report = {}
    for key in args.network or list(NETWORKS):
        net = NETWORKS[key]
        progs = programs(net, args.epochs, args.tuned)
        results: dict[str, list[dict]] = {k: [] for k in progs}
        for r in range(args.repeats):
            for name, make in progs.items():
                with tempfile.TemporaryDirectory() as d:
                    code, argv = make(d)
                    res = run(code, argv, args.threads)
                results[name].append(res)
                print(f"{key} run {r + 1}/{args.repeats} {name:19s} {res['seconds']:7.2f} s  "
                      f"test accuracy {res['test_accuracy']:.4f}  peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)
        med = {k: statistics.median(x["seconds"] for x in v) for k, v in results.items()}
        rss = {k: max(x["peak_rss_mb"] for x in v) for k, v in results.items()}
        print(f"\n{net.title}, {args.epochs} epochs, median of {args.repeats} runs (training time only):")
        for name, secs in med.items():
            print(f"  {name:19s} {secs:7.2f} s   peak RSS {rss[name]:6.0f} MB")
        for ours, theirs in [("dnnc-keras", "keras-fit"), ("dnnc-keras", "keras-fit-spe"),
                             ("dnnc-torch", "torch-loop"), ("dnnc-torch", "torch-compiled"),
                             ("dnnc-torch-compiled", "torch-compiled")]:
            if theirs in med:
                print(f"  ratio {ours} / {theirs} = {med[ours] / med[theirs]:.2f}")
        print()
        report[key] = {"epochs": args.epochs, "repeats": args.repeats, "median_seconds": med,
                       "peak_rss_mb": rss, "runs": results}
    print(json.dumps(report))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
