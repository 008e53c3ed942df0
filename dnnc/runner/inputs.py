"""Reading the inputs of ``predict``: npz, csv or image files, preprocessed as the training data was.

* ``.npz``: one array per model input, keyed by the input's name (a model with
  one input also accepts the key ``x`` or a file holding a single array).
* ``.csv`` (header row required): with one input, every column; with several,
  the columns named ``<input>`` or ``<input>_<anything>``, in file order.
* ``.npy``: the single input's array.
* images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.gif``; one file or a
  directory of them, sorted by name), for single-input models of 28×28 = 784
  values: read with matplotlib (PNG) or Pillow, converted to grayscale 0–255;
  if the image is mostly light (mean > 127) it is inverted, since MNIST digits
  are light on dark.  Images of another size need Pillow to be resized.

Then the training preprocessing is applied: ``divide_by``, the reshape to the
model's input shape, and the standardisation fitted on the training rows
(recorded in the run's manifest).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..compiler.ir import ModelIR
from .errors import RunnerError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_raw_inputs(path: str | Path, ir: ModelIR) -> tuple[dict[str, np.ndarray], list[str]]:
    """(input name → raw array with a batch axis, row labels) from ``path``."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise RunnerError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return {_single_input(ir, path): np.stack([read_image(f, ir) for f in files])}, [f.name for f in files]
    if not path.is_file():
        raise RunnerError(f"input file {path} not found")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return {_single_input(ir, path): read_image(path, ir)[None]}, [path.name]
    if suffix == ".npz":
        arrays = _read_npz(path, ir)
    elif suffix == ".npy":
        arrays = {_single_input(ir, path): np.load(path, allow_pickle=False)}
    elif suffix == ".csv":
        arrays = _read_csv(path, ir)
    else:
        raise RunnerError(f"cannot read {path}: use .npz, .npy, .csv or an image ({', '.join(IMAGE_SUFFIXES)})")
    n = {k: v.shape[0] for k, v in arrays.items()}
    if len(set(n.values())) != 1:
        raise RunnerError(f"{path}: the inputs have different numbers of rows: {n}")
    return arrays, [str(i) for i in range(next(iter(n.values())))]


def _single_input(ir: ModelIR, path: Path) -> str:
    if len(ir.inputs) != 1:
        raise RunnerError(f"{path}: a model with {len(ir.inputs)} inputs ({', '.join(ir.inputs)}) needs an .npz or .csv file")
    return ir.inputs[0]


def _spec_feature_keys(ir: ModelIR) -> dict[str, str]:
    """Model input → array key, from the spec's `data.features` (as used in training), if it names arrays."""
    features = (ir.data or {}).get("features")
    if isinstance(features, str) and len(ir.inputs) == 1:
        return {ir.inputs[0]: features}
    if isinstance(features, dict):
        return {name: key for name, key in features.items() if isinstance(key, str)}
    return {}


def _read_npz(path: Path, ir: ModelIR) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        keys = list(data.files)
        if all(name in keys for name in ir.inputs):
            return {name: data[name] for name in ir.inputs}
        mapped = _spec_feature_keys(ir)
        if all(mapped.get(name) in keys for name in ir.inputs):
            return {name: data[mapped[name]] for name in ir.inputs}
        if len(ir.inputs) == 1:
            for key in ("x", "x_test") + (tuple(keys) if len(keys) == 1 else ()):
                if key in keys:
                    return {ir.inputs[0]: data[key]}
    raise RunnerError(
        f"{path} must hold one array per model input, named {', '.join(ir.inputs)} (arrays in the file: {', '.join(keys)})"
    )


def _read_csv(path: Path, ir: ModelIR) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise RunnerError(f"{path} needs a header row and at least one data row")
    header = [c.strip() for c in rows[0]]
    try:
        values = np.array([[float(c) for c in r] for r in rows[1:]], dtype=np.float64)
    except ValueError as exc:
        raise RunnerError(f"{path}: every cell must be a number ({exc})") from None
    if len(ir.inputs) == 1:
        return {ir.inputs[0]: values}
    out = {}
    for name in ir.inputs:
        cols = [i for i, c in enumerate(header) if c == name or c.startswith(name + "_")]
        if not cols:
            raise RunnerError(f"{path} has no column for input {name!r} (name columns {name!r} or {name}_<i>; header: {', '.join(header)})")
        out[name] = values[:, cols]
    return out


def read_image(path: Path, ir: ModelIR) -> np.ndarray:
    """A grayscale image as float64 0–255 of the model input's 28×28 size (light-on-dark)."""
    name = _single_input(ir, path)
    size = int(np.prod(ir.node(name).shape))
    if size != 28 * 28:
        raise RunnerError(f"image input needs a model input of 28×28 = 784 values; input {name!r} has shape {tuple(ir.node(name).shape)}")
    image = _load_image(path)
    if image.ndim == 3:
        rgb = image[..., :3]
        image = rgb @ np.array([0.299, 0.587, 0.114]) if rgb.shape[-1] == 3 else rgb[..., 0]
    if image.shape != (28, 28):
        image = _resize(image, path)
    if image.mean() > 127.5:
        image = 255.0 - image
    return image


def _load_image(path: Path) -> np.ndarray:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("L") if im.mode not in ("L", "RGB", "RGBA") else im, dtype=np.float64)
    except ImportError:
        pass
    except OSError as exc:
        raise RunnerError(f"cannot read image {path}: {exc}") from None
    if path.suffix.lower() != ".png":
        raise RunnerError(f"reading {path.suffix} images needs Pillow (pip install pillow); PNG works without it")
    import matplotlib.image as mpimg

    try:
        image = np.asarray(mpimg.imread(path), dtype=np.float64)
    except (OSError, ValueError, SyntaxError) as exc:
        raise RunnerError(f"cannot read image {path}: {exc}") from None
    if image.dtype.kind == "f" and image.max() <= 1.0:
        image = image * 255.0
    return image


def _resize(image: np.ndarray, path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise RunnerError(f"{path} is {image.shape[1]}×{image.shape[0]} pixels, not 28×28 (resizing needs Pillow)") from None
    im = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    return np.asarray(im.resize((28, 28), Image.Resampling.LANCZOS), dtype=np.float64)


def preprocess(arrays: Mapping[str, np.ndarray], ir: ModelIR, data: Mapping[str, Any] | None,
               standardize: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """Apply the training data's ``divide_by``, reshape and standardisation to raw input arrays."""
    divide_by = (data or {}).get("divide_by")
    out = {}
    for name in ir.inputs:
        if name not in arrays:
            raise RunnerError(f"no values for model input {name!r}")
        token = ir.node(name).attrs.dtype == "int64"  # token ids: kept integers, never scaled
        x = np.asarray(arrays[name]) if token else np.asarray(arrays[name], dtype=np.float32)
        if token and not np.issubdtype(x.dtype, np.integer):
            raise RunnerError(f"input {name!r} holds token ids (dtype = \"int64\"): give integers (received {x.dtype})")
        if divide_by and not token:
            x = x / np.float32(divide_by)
        shape = tuple(ir.node(name).shape)
        if x.ndim == 1 and len(shape) == 1 and len(ir.inputs) >= 1 and x.shape[0] == shape[0]:
            x = x[None]
        per = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
        if per != int(np.prod(shape)):
            raise RunnerError(
                f"input {name!r}: rows of shape {tuple(x.shape[1:])} ({per} values) do not fit the model input {shape}"
            )
        x = x.reshape((x.shape[0], *shape))
        if standardize and name in standardize and not token:
            mean = np.asarray(standardize[name]["mean"], dtype=np.float32)
            std = np.asarray(standardize[name]["std"], dtype=np.float32)
            x = (x - mean.reshape(shape)) / std.reshape(shape)
        out[name] = x.astype(np.int64 if token else np.float32)
    return out
