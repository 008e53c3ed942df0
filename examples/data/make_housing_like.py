"""Generate ``housing_like.npz``: a small synthetic regression data set for the wide-and-deep example.

Deterministic (fixed seed, fixed zip timestamps): running it again rewrites
the same bytes.  2,000 rows; arrays

* ``x_wide`` (n, 5) float32 — features that act (almost) linearly,
* ``x_deep`` (n, 6) float32 — features that act through nonlinear interactions,
* ``y`` (n, 1) float32 — a smooth function of both plus Gaussian noise.

The noise variance is about 1 % of the target variance, so a small MLP can fit
the targets well below the variance (the mean-only baseline's MSE).

Run: ``python examples/data/make_housing_like.py`` (writes next to itself).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

SEED = 20240601
N_ROWS = 2000
NOISE_STD = 0.1


def make(n: int = N_ROWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """The three arrays, deterministic in ``seed``."""
    rng = np.random.Generator(np.random.Philox(key=seed))
    x_wide = rng.normal(0.0, 1.0, size=(n, 5))
    x_deep = rng.uniform(-2.0, 2.0, size=(n, 6))
    signal = (
        0.8 * x_wide[:, 0]
        - 0.5 * x_wide[:, 1]
        + 0.3 * x_wide[:, 2] * x_wide[:, 3]
        + np.sin(1.5 * x_deep[:, 0])
        + 0.5 * x_deep[:, 1] * x_deep[:, 2]
        + np.tanh(x_deep[:, 3] + 0.5 * x_wide[:, 4])
        + 0.25 * x_deep[:, 4] ** 2
        - 0.2 * np.abs(x_deep[:, 5])
    )
    y = signal + rng.normal(0.0, NOISE_STD, size=n)
    return {
        "x_wide": x_wide.astype(np.float32),
        "x_deep": x_deep.astype(np.float32),
        "y": y.astype(np.float32).reshape(n, 1),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but with fixed zip timestamps, so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def main() -> None:
    arrays = make()
    out = Path(__file__).with_name("housing_like.npz")
    write_npz(out, arrays)
    y = arrays["y"]
    print(f"wrote {out} ({out.stat().st_size} bytes): y variance {y.var():.3f}, noise variance {NOISE_STD**2:.3f}")


if __name__ == "__main__":
    main()
