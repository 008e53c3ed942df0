"""Strict parity: keras and torch follow one training trajectory (2 epochs of the reference network).

The 256-128-64 batch-norm/dropout network of ``examples/mnist_bn_dropout.toml``
trains for 2 epochs on the first 6,000 training rows of MNIST (validation: the
first 1,500 validation rows; test: the first 1,000 test rows) with
``training.strict_parity``: dnnc draws the dropout masks, the frameworks use
deterministic kernels.  Measured on keras 3.15.1 / TF 2.21 vs torch 2.13 (CPU):

=======  ==========  ===========  ==========  ==============  ==============  ================
epoch    Δ loss      Δ accuracy   Δ val_loss  Δ val_accuracy  weights ‖Δ‖/‖w‖  max|Δ|/max(1,|w|)
=======  ==========  ===========  ==========  ==============  ==============  ================
1        2.2e-06     0 samples    2.3e-07     0 samples       2.2e-05         1.2e-04 (dense/bias)
2        5.4e-06     0 samples    1.5e-04     0 samples       6.6e-04         4.9e-03 (dense/kernel)
=======  ==========  ===========  ==========  ==============  ==============  ================

(test accuracy equal, test loss 1.4e-04 apart).  The bounds below keep a
margin of about 10× on each measured value.  Without strict parity the
frameworks' own dropout masks differ and the same run disagrees by far more
(the control at the end).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "mnist_bn_dropout.toml"
ROWS, VAL_ROWS, TEST_ROWS = 6000, 1500, 1000


def _available(name: str) -> bool:
    from dnnc.plugins.manager import get_registry

    b = get_registry().backends.get(name)
    return b is not None and b.status()[0]


pytestmark = pytest.mark.skipif(not (_available("keras") and _available("torch")),
                                reason="needs the keras and torch backends")


@pytest.fixture(scope="module")
def subset(data_dir):
    from dnnc.compiler.compile import compile_spec
    from dnnc.conformance.conform import load_datasets
    from dnnc.runner.datasets.containers import Datasets

    ir = compile_spec(SPEC)
    ds = load_datasets(ir, spec_path=SPEC, data_dir=data_dir)
    return ir, Datasets(train=ds.train.take(slice(0, ROWS)), validation=ds.validation.take(slice(0, VAL_ROWS)),
                        test=ds.test.take(slice(0, TEST_ROWS)), meta=ds.meta)


def test_keras_and_torch_follow_one_trajectory_under_strict_parity(subset):
    from dnnc.conformance.options import resolve_backends
    from dnnc.conformance.parity import measure_parity

    ir, data = subset
    result = measure_parity(ir, resolve_backends(["keras", "torch"]), data, [1, 2])
    rows = result.agreement["torch"]
    assert [a.epoch for a in rows] == [1, 2]
    for a in rows:
        assert a.diff("loss") <= 1e-4, a.to_dict()
        assert a.diff("accuracy") * ROWS <= 3, a.to_dict()           # within 3 of 6,000 samples
        assert a.diff("val_loss") <= 2e-3, a.to_dict()
        assert a.diff("val_accuracy") * VAL_ROWS <= 3, a.to_dict()   # within 3 of 1,500 samples
        assert a.weights_rel_l2 <= 1e-2, a.to_dict()
    keras, torch = result.test["keras"], result.test["torch"]
    assert abs(keras["test_accuracy"] - torch["test_accuracy"]) * TEST_ROWS <= 3
    assert abs(keras["test_loss"] - torch["test_loss"]) <= 2e-3
    # Same-epoch agreement is much tighter than training progress: the loss moved by > 0.1 in epoch 2
    loss_1, loss_2 = (rows[i].history["loss"][1] for i in (0, 1))
    assert loss_1 - loss_2 > 0.1


def test_without_strict_parity_the_dropout_masks_differ(subset):
    from dnnc.conformance.options import resolve_backends
    from dnnc.conformance.parity import measure_parity

    ir, data = subset
    result = measure_parity(ir, resolve_backends(["keras", "torch"]), data, [1], strict=False)
    (a,) = result.agreement["torch"]
    assert a.weights_rel_l2 > 1e-2, a.to_dict()   # strict parity: 2.2e-05 after one epoch
