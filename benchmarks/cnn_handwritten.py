"""The CNN examples' networks written directly in Keras, for comparing dnnc's accuracies with the framework's own.

    python benchmarks/cnn_handwritten.py mnist 15 [--seed 0]
    python benchmarks/cnn_handwritten.py fashion_mnist 15 --dense128

Keras's "simple MNIST convnet": conv(32, 3×3, relu) → max-pool 2 → conv(64, 3×3, relu) → max-pool 2 →
flatten → [dense(128, relu), with --dense128: examples/fashion_cnn.toml] → dropout 0.5 → dense 10 softmax,
Adam, batch 128, `model.fit(validation_split=0.1)` with Keras's own initialisers and batch order.  Prints the
test accuracy after every epoch and, last, one JSON line.  Results: docs/convolution.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time

import numpy as np


def load(dataset: str):
    from dnnc.runner.datasets import locate_dataset

    files = locate_dataset(dataset).files

    def idx(key):
        raw = open(files[key], "rb").read()
        return np.frombuffer(gzip.decompress(raw) if str(files[key]).endswith(".gz") else raw, np.uint8)

    images = {k: idx(k)[16:].reshape(-1, 28, 28, 1).astype("float32") / 255 for k in ("train_images", "test_images")}
    labels = {k: idx(k)[8:].astype("int64") for k in ("train_labels", "test_labels")}
    return images["train_images"], labels["train_labels"], images["test_images"], labels["test_labels"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=("mnist", "fashion_mnist"))
    parser.add_argument("epochs", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dense128", action="store_true", help="a dense(128, relu) layer before the dropout")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    xtr, ytr, xte, yte = load(args.dataset)
    keras.utils.set_random_seed(args.seed)
    L = keras.layers
    head = [L.Dense(128, activation="relu")] if args.dense128 else []
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                              L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(), *head,
                              L.Dropout(0.5), L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    accuracies: list[float] = []

    class TestAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            accuracies.append(float(self.model.evaluate(xte, yte, verbose=0)[1]))
            print(f"epoch {epoch + 1} val_accuracy {logs['val_accuracy']:.4f} test_accuracy {accuracies[-1]:.4f}",
                  flush=True)

    started = time.perf_counter()
    model.fit(xtr, ytr, batch_size=128, epochs=args.epochs, validation_split=0.1, verbose=0, callbacks=[TestAccuracy()])
    print(json.dumps({"dataset": args.dataset, "seed": args.seed, "dense128": args.dense128,
                      "test_accuracy_per_epoch": accuracies, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
