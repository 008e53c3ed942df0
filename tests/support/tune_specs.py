"""Small searchable specs for the tuning tests: a regression MLP on a 240-row npz file.

``write_search_spec(dir, **changes)`` writes ``data.npz`` and ``search.toml`` into
``dir``; keyword arguments replace lines of the template (``epochs=3``,
``space=...``, ``search=...``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TEMPLATE = """\
# a tiny searchable regression MLP
spec_version = 1
name = "tiny-search"

[data]
dataset = {{ type = "npz", path = "data.npz" }}
validation_split = 0.25
test_split = 0.2
standardize = true

[model]
input_shape = [4]
layers = [
  {{ type = "repeat", times = 1, layers = [ {{ type = "dense", units = 8, activation = "relu" }} ] }},
  {{ type = "dense", units = 1 }},
]

[training]
loss = "mse"
optimizer = {{ type = "sgd", learning_rate = 0.01 }}
batch_size = 16
epochs = {epochs}
seed = 0
{callbacks}
[search]
{search}

[search.space]
{space}
"""

SEARCH = 'trials = 3\nsampler = "random"\nmetric = "val_loss"\nseed = 0'
SPACE = """\
"model.layers[0].times"            = { type = "int", low = 0, high = 2 }
"model.layers[0].layers[0].units"  = { type = "int", low = 2, high = 16 }
"training.optimizer.learning_rate" = { type = "float", low = 1e-3, high = 1e-1, log = true }"""


def write_data(path: Path, n: int = 240, seed: int = 3) -> Path:
    rng = np.random.Generator(np.random.Philox(key=seed))
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, :1] - 0.5 * x[:, 1:2] * x[:, 2:3] + np.tanh(x[:, 3:4]) + rng.normal(0, 0.1, size=(n, 1))).astype(np.float32)
    np.savez(path, x=x, y=y)
    return path


def write_search_spec(directory: Path, *, epochs: int = 4, search: str = SEARCH, space: str = SPACE,
                      callbacks: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_data(directory / "data.npz")
    path = directory / "search.toml"
    path.write_text(TEMPLATE.format(epochs=epochs, search=search, space=space, callbacks=callbacks))
    return path
