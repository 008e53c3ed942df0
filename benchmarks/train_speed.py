"""Training speed: dnnc's shared runner against hand-written Keras and PyTorch code, in one run.

Trains the 256-128-64 batch-norm/ReLU/dropout network (examples/mnist_bn_dropout.toml: Adam, batch 64,
validation split 0.2) for EPOCHS epochs on MNIST four ways, each in a fresh subprocess so that no
framework state is shared:

  dnnc-keras   `dnnc train` with --backend keras
  keras-fit    hand-written Keras: Sequential model, model.fit with its defaults (shuffle, validation_split)
  dnnc-torch   `dnnc train` with --backend torch
  torch-loop   hand-written PyTorch: TensorDataset + DataLoader(shuffle=True), a plain training loop
               with a validation pass per epoch

Each program times its own epochs (training and the validation pass; data already in memory, framework
imported, model built; dnnc: the sum of its per-epoch times), so
interpreter start-up and imports are excluded for all four alike. Prints the median of REPEATS runs and
the ratios dnnc / hand-written (< 1 means dnnc is faster).

    python benchmarks/train_speed.py [--epochs 2] [--repeats 3]

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "mnist_bn_dropout.toml"

LOAD_MNIST = r"""
import gzip, os, numpy as np
from pathlib import Path
def _find():
    from dnnc.runner.datasets import locate_dataset
    return locate_dataset("mnist").files
def load():
    files = _find()
    def idx(key):
        return np.frombuffer(gzip.open(files[key]).read() if str(files[key]).endswith('.gz') else open(files[key], 'rb').read(), np.uint8)
    xtr = idx('train_images')[16:].reshape(-1, 784).astype('float32') / 255
    ytr = idx('train_labels')[8:].astype('int64')
    xte = idx('test_images')[16:].reshape(-1, 784).astype('float32') / 255
    yte = idx('test_labels')[8:].astype('int64')
    return xtr, ytr, xte, yte
"""

KERAS_FIT = LOAD_MNIST + r"""
import time, json, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
epochs = int(sys.argv[1])
xtr, ytr, xte, yte = load()
keras.utils.set_random_seed(0)
L = keras.layers
model = keras.Sequential([keras.Input((784,)),
    L.Dense(256), L.BatchNormalization(), L.ReLU(),
    L.Dense(128), L.BatchNormalization(), L.ReLU(), L.Dropout(0.3),
    L.Dense(64), L.BatchNormalization(), L.ReLU(),
    L.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
t = time.perf_counter()
model.fit(xtr, ytr, batch_size=64, epochs=epochs, validation_split=0.2, verbose=0)
elapsed = time.perf_counter() - t
acc = model.evaluate(xte, yte, verbose=0)[1]
print(json.dumps({"seconds": elapsed, "test_accuracy": float(acc)}))
"""

TORCH_LOOP = LOAD_MNIST + r"""
import time, json, sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
epochs = int(sys.argv[1])
xtr, ytr, xte, yte = load()
torch.manual_seed(0)
n_val = len(xtr) - int(len(xtr) * 0.8)
train = TensorDataset(torch.from_numpy(xtr[:-n_val]), torch.from_numpy(ytr[:-n_val]))
val = TensorDataset(torch.from_numpy(xtr[-n_val:]), torch.from_numpy(ytr[-n_val:]))
model = nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(),
                      nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3),
                      nn.Linear(128, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
t = time.perf_counter()
for epoch in range(epochs):
    model.train()
    for xb, yb in DataLoader(train, batch_size=64, shuffle=True):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        for xb, yb in DataLoader(val, batch_size=64):
            loss_fn(model(xb), yb)
elapsed = time.perf_counter() - t
model.eval()
with torch.no_grad():
    acc = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
print(json.dumps({"seconds": elapsed, "test_accuracy": float(acc)}))
"""

DNNC = r"""
import json, sys, time
from dnnc.runner.api import train_spec
backend, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
result = train_spec(sys.argv[4], backend=backend, epochs=epochs, out=out, progress="quiet")
print(json.dumps({"seconds": sum(result.history.epoch_seconds), "test_accuracy": result.test_metrics.get("test_accuracy")}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"benchmark program failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    epochs = str(args.epochs)
    programs = {
        "dnnc-keras": lambda d: run(DNNC, "keras", epochs, d, str(SPEC)),
        "keras-fit": lambda d: run(KERAS_FIT, epochs),
        "dnnc-torch": lambda d: run(DNNC, "torch", epochs, d, str(SPEC)),
        "torch-loop": lambda d: run(TORCH_LOOP, epochs),
    }
    results: dict[str, list[dict]] = {k: [] for k in programs}
    for r in range(args.repeats):
        for name, fn in programs.items():  # interleaved, so slow drifts of the machine hit all alike
            with tempfile.TemporaryDirectory() as d:
                res = fn(d)
            results[name].append(res)
            print(f"run {r + 1}/{args.repeats} {name:11s} {res['seconds']:7.2f} s  test accuracy {res['test_accuracy']:.4f}",
                  flush=True)
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in results.items()}
    print(f"\nMNIST 256-128-64 BN/dropout, {args.epochs} epochs, median of {args.repeats} runs (training time only):")
    for name, secs in med.items():
        print(f"  {name:11s} {secs:7.2f} s")
    print(f"  ratio dnnc-keras / keras-fit  = {med['dnnc-keras'] / med['keras-fit']:.2f}")
    print(f"  ratio dnnc-torch / torch-loop = {med['dnnc-torch'] / med['torch-loop']:.2f}")
    print(json.dumps({"epochs": args.epochs, "repeats": args.repeats, "median_seconds": med, "runs": results}))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
