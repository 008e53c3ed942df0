"""The CNN examples (examples/mnist_cnn.toml, fashion_cnn.toml) train with both real backends.

A smoke run: the spec's own model, data pipeline (divide_by, reshape to (28, 28, 1)) and optimizer on the
first 1,024 training and 512 test rows of the real data, 1 epoch (8 Adam steps of 128).  Measured with
seed 0 after those 8 steps: test accuracy 0.49–0.55 and test loss 2.09–2.11 for mnist_cnn (both backends), and
0.53–0.56 and 1.85–1.87 for fashion_cnn (with its dense-128 layer); chance is 0.1 and the initial loss about
ln 10 = 2.30.
"""

from __future__ import annotations

import pytest

from dnnc.compiler.compile import compile_spec
from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner import Trainer
from dnnc.runner.api import get_backend, load_datasets
from dnnc.runner.datasets import Datasets
from support.backends import BACKENDS
from support.paths import EXAMPLES


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("example", ["mnist_cnn.toml", "fashion_cnn.toml"])
def test_cnn_example_learns_in_a_few_steps(example, backend, data_dir):
    ir = compile_spec(EXAMPLES / example)
    head = ["dense", "dropout", "dense"] if example == "fashion_cnn.toml" else ["dropout", "dense"]
    assert [n.op for n in ir.nodes] == ["input", "conv2d", "max_pool2d", "conv2d", "max_pool2d", "flatten", *head]
    ds = load_datasets(ir, base_dir=None, data_dir=data_dir, download=False)
    assert ds.train.inputs["input"].shape[1:] == (28, 28, 1)
    small = Datasets(train=ds.train.take(slice(0, 1024)), validation=None, test=ds.test.take(slice(0, 512)))
    model = get_backend(backend, ir).build(ir, initial_weights(ir, 0))
    history = Trainer(model, ir, small, epochs=1).fit()
    assert history.test["test_accuracy"] > 0.3 and history.test["test_loss"] < 2.2, history.test
