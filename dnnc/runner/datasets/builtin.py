"""The built-in data sets: MNIST, Fashion-MNIST, XOR and Gaussian diagnostic rows, as raw arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .catalog import ROLES, STANDARD_DATASETS
from .containers import RawData, Split
from .errors import DataError
from .idx import read_idx_file
from .locate import locate_dataset
from .rng import STREAM_GAUSSIAN, STREAM_XOR_NOISE, data_generator

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_TARGETS = np.array([[0], [1], [1], [0]], dtype=np.float32)


def load_standard(
    name: str,
    *,
    path: str | None = None,
    base_dir: Path | None = None,
    data_dir: Path | None = None,
    download: bool = True,
    input_name: str = "input",
    output_name: str = "output",
) -> RawData:
    """MNIST or Fashion-MNIST: 60,000 training and 10,000 test rows of uint8 (28, 28) images, int64 labels."""
    located = locate_dataset(name, path=path, data_dir=data_dir, base_dir=base_dir, download=download)
    dataset = located.dataset
    read = {role: read_idx_file(located.files[role]) for role in ROLES}
    _check_identity(name, read)
    splits = {}
    for part in ("train", "test"):
        images, labels = read[f"{part}_images"], read[f"{part}_labels"]
        if images.array.ndim != 3 or images.array.shape[1:] != dataset.image_shape or images.array.dtype != np.uint8:
            raise DataError(
                f"{images.path}: expected uint8 images of shape (n, {dataset.image_shape[0]}, "
                f"{dataset.image_shape[1]}), found {images.array.dtype} {images.array.shape}"
            )
        if labels.array.ndim != 1:
            raise DataError(f"{labels.path}: expected one label per image (shape (n,)), found {labels.array.shape}")
        if labels.array.shape[0] != images.array.shape[0]:
            raise DataError(
                f"{images.path} holds {images.array.shape[0]} images but {labels.path} holds "
                f"{labels.array.shape[0]} labels"
            )
        y = labels.array.astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= dataset.num_classes):
            raise DataError(
                f"{labels.path}: labels must be 0–{dataset.num_classes - 1}, found {y.min()}–{y.max()}"
            )
        splits[part] = Split(inputs={input_name: images.array}, targets={output_name: y})
    unofficial = [role for role in ROLES if read[role].raw_sha256 != dataset.raw_sha256[role]]
    return RawData(
        train=splits["train"],
        test=splits["test"],
        target_kinds={output_name: "class"},
        num_classes={output_name: dataset.num_classes},
        meta={
            "dataset": name,
            "found_in": f"{located.directory} ({located.source})",
            "files": [
                {
                    "role": role,
                    "path": str(read[role].path),
                    "sha256": read[role].sha256,
                    "official": role not in unofficial,
                }
                for role in ROLES
            ],
            "warnings": [
                f"{read[role].path} is not the official {dataset.title} {role.replace('_', ' ')} file: its IDX "
                f"data has SHA-256 {read[role].raw_sha256}, the official file's is {dataset.raw_sha256[role]}; "
                "results are not comparable with published ones"
                for role in unofficial
            ],
        },
    )


def _check_identity(name: str, read) -> None:
    """Refuse the files of another standard data set (e.g. MNIST files where Fashion-MNIST was asked for)."""
    for other in STANDARD_DATASETS.values():
        if other.name == name:
            continue
        if read["train_labels"].raw_sha256 == other.raw_sha256["train_labels"]:
            raise DataError(
                f"{read['train_labels'].path.parent} holds {other.title}, not "
                f"{STANDARD_DATASETS[name].title}: put each data set in its own directory "
                f"(e.g. DIR/{other.dir_name} and DIR/{STANDARD_DATASETS[name].dir_name})"
            )


def load_xor(
    *, repeat: int = 1, noise: float = 0.0, seed: int = 0, input_name: str = "input", output_name: str = "output"
) -> RawData:
    """The XOR problem: training rows are the four points ``repeat`` times (plus Gaussian ``noise``
    on the inputs); test rows are the four clean points.  Targets are float32 0/1 of shape (n, 1)."""
    x = np.tile(XOR_INPUTS, (repeat, 1))
    y = np.tile(XOR_TARGETS, (repeat, 1))
    if noise > 0:
        x = x + data_generator(seed, STREAM_XOR_NOISE).normal(0.0, noise, size=x.shape).astype(np.float32)
    return RawData(
        train=Split(inputs={input_name: x.astype(np.float32)}, targets={output_name: y}),
        test=Split(inputs={input_name: XOR_INPUTS.copy()}, targets={output_name: XOR_TARGETS.copy()}),
        target_kinds={output_name: "binary"},
        num_classes={output_name: 2},
        meta={"dataset": "xor", "found_in": "built in", "files": []},
    )


def load_gaussian(
    *, rows: int, shape: tuple[int, ...], classes: int, seed: int, input_name: str = "input",
    output_name: str = "output",
) -> RawData:
    """``rows`` training rows of N(0, 1) float32 features of ``shape`` and int64 labels uniform in
    0 … classes − 1, drawn in that order from the data stream keyed by ``seed``; no test rows."""
    generator = data_generator(seed, STREAM_GAUSSIAN)
    x = generator.standard_normal((int(rows), *(int(d) for d in shape)), dtype=np.float32)
    y = generator.integers(0, int(classes), size=int(rows), dtype=np.int64)
    return RawData(
        train=Split(inputs={input_name: x}, targets={output_name: y}),
        test=None,
        target_kinds={output_name: "class"},
        num_classes={output_name: int(classes)},
        meta={"dataset": "gaussian", "found_in": "built in", "files": []},
    )
