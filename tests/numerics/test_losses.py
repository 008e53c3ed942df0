"""Losses and penalties: schema, NumPy reference vs torch vs Keras vs stock Keras loss objects."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from dnnc.numerics import apply_head, loss_input_kind, loss_value, penalty, per_sample_loss
from dnnc.spec_schema.losses import BUILTIN_LOSS_MODELS, LossSpec

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dnnc.backends.keras.losses import keras_loss, keras_per_sample_loss  # noqa: E402
from dnnc.backends.torch.losses import torch_loss, torch_per_sample_loss  # noqa: E402

LOSS = TypeAdapter(LossSpec)


def ir(spec) -> dict:
    return LOSS.validate_python(spec).model_dump()


# --------------------------------------------------------------------------- schema


def test_shorthand_aliases_and_defaults():
    assert ir("mse") == {"type": "mse"}
    assert ir("mean_squared_error") == {"type": "mse"}
    assert ir("mean_absolute_error") == {"type": "mae"}
    assert ir("huber") == {"type": "huber", "delta": 1.0}
    assert ir("binary_crossentropy") == {"type": "binary_crossentropy", "label_smoothing": 0.0, "from_logits": False}
    assert ir("categorical_crossentropy") == {"type": "categorical_crossentropy", "label_smoothing": 0.0, "from_logits": False}
    assert ir("sparse_categorical_crossentropy") == {"type": "sparse_categorical_crossentropy", "from_logits": False}
    assert {m.model_fields["type"].annotation.__args__[0] for m in BUILTIN_LOSS_MODELS} == {
        "mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"type": "categorical_crossentropy", "label_smoothing": 1.5}, "less than or equal to 1"),
        ({"type": "binary_crossentropy", "label_smoothing": -0.1}, "greater than or equal to 0"),
        ({"type": "sparse_categorical_crossentropy", "label_smoothing": 0.1}, "Extra inputs are not permitted"),
        ({"type": "huber", "delta": 0}, "greater than 0"),
        ({"type": "mse", "reduction": "sum"}, "Extra inputs are not permitted"),
        ("crossentropy", "'mse', 'mae', 'huber'"),
    ],
)
def test_invalid_losses_are_rejected(spec, fragment):
    with pytest.raises(ValidationError) as err:
        ir(spec)
    assert fragment in str(err.value)


def test_head_rules():
    cce, bce = ir("categorical_crossentropy"), ir("binary_crossentropy")
    assert loss_input_kind(cce, "softmax") == "logits"
    assert loss_input_kind(ir({"type": "categorical_crossentropy", "from_logits": True}), "linear") == "logits"
    assert loss_input_kind(cce, "linear") == "probabilities"
    assert loss_input_kind(bce, "sigmoid") == "logits"
    assert loss_input_kind(ir("mse"), "sigmoid") == "predictions"
    with pytest.raises(ValueError, match="categorical_crossentropy needs an output layer ending in softmax .* ends in sigmoid"):
        loss_input_kind(cce, "sigmoid")
    with pytest.raises(ValueError, match="binary_crossentropy needs an output layer ending in sigmoid"):
        loss_input_kind(bce, "softmax")
    with pytest.raises(ValueError, match="unknown output head 'tanh'"):
        loss_input_kind(cce, "tanh")


# --------------------------------------------------------------------------- values

DOC_LOGITS = np.array([[30, 0, -30], [1, 2, 3], [0, 0, 40]], np.float32)
DOC_LABELS = np.array([2, 0, 0], np.int64)
DOC_ONEHOT = np.eye(3, dtype=np.float32)[DOC_LABELS]
DOC_PROBS = apply_head("softmax", DOC_LOGITS).astype(np.float32)

rng = np.random.default_rng(7)
LOGITS5 = rng.normal(scale=3, size=(5, 4)).astype(np.float32)
LOGITS5[0] = [60, -60, 0, 1]  # extreme
LABELS5 = np.array([1, 0, 3, 2, 2], np.int64)
ONEHOT5 = np.eye(4, dtype=np.float32)[LABELS5]
WEIGHTS5 = np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)
BIN_LOGITS = np.array([[50.0], [-50.0], [0.3], [-2.0], [4.0]], np.float32)
BIN_TARGETS = np.array([0.0, 1.0, 1.0, 0.0, 1.0], np.float32)  # (N,) against (N, 1) outputs
MULTI_LOGITS = rng.normal(scale=2, size=(5, 3)).astype(np.float32)
MULTI_TARGETS = (rng.uniform(size=(5, 3)) > 0.5).astype(np.float32)
REG_OUT = rng.normal(size=(5, 1)).astype(np.float32)
REG_TARGETS = rng.normal(size=(5,)).astype(np.float32)
REG2_OUT = rng.normal(size=(5, 2)).astype(np.float32)
REG2_TARGETS = rng.normal(size=(5, 2)).astype(np.float32)

SCCE, CCE, BCE = "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"

# name: (loss spec, head, output, target, sample_weight)
CASES = {
    "doc_sparse_softmax": (SCCE, "softmax", DOC_LOGITS, DOC_LABELS, None),
    "doc_sparse_labels_n1": (SCCE, "softmax", DOC_LOGITS, DOC_LABELS[:, None], None),
    "doc_onehot_softmax": (CCE, "softmax", DOC_LOGITS, DOC_ONEHOT, None),
    "doc_onehot_from_logits": ({"type": CCE, "from_logits": True}, "linear", DOC_LOGITS, DOC_ONEHOT, None),
    "doc_onehot_probabilities_clipped": (CCE, "linear", DOC_PROBS, DOC_ONEHOT, None),
    "doc_sparse_probabilities_clipped": (SCCE, "linear", DOC_PROBS, DOC_LABELS, None),
    "doc_onehot_smoothing": ({"type": CCE, "label_smoothing": 0.1}, "softmax", DOC_LOGITS, DOC_ONEHOT, None),
    "sparse_weighted": (SCCE, "softmax", LOGITS5, LABELS5, WEIGHTS5),
    "onehot_weighted_smoothing": ({"type": CCE, "label_smoothing": 0.2}, "softmax", LOGITS5, ONEHOT5, WEIGHTS5),
    "binary_extreme_weighted_smoothing": ({"type": BCE, "label_smoothing": 0.2}, "sigmoid", BIN_LOGITS, BIN_TARGETS, WEIGHTS5),
    "binary_from_logits": ({"type": BCE, "from_logits": True}, "linear", BIN_LOGITS, BIN_TARGETS[:, None], None),
    "binary_multilabel": (BCE, "sigmoid", MULTI_LOGITS, MULTI_TARGETS, WEIGHTS5),
    "binary_probabilities_clipped": (BCE, "linear", np.array([[0.0], [1.0], [0.3], [0.999]], np.float32),
                                     np.array([1.0, 0.0, 1.0, 0.0], np.float32), None),
    "mse_n_vs_n1": ("mse", "linear", REG_OUT, REG_TARGETS, None),
    "mse_weighted_sigmoid_head": ("mse", "sigmoid", REG_OUT, (REG_TARGETS > 0).astype(np.float32), WEIGHTS5),
    "mae_two_columns": ("mae", "linear", REG2_OUT, REG2_TARGETS, WEIGHTS5),
    "huber_two_columns": ({"type": "huber", "delta": 0.5}, "linear", REG2_OUT, REG2_TARGETS, WEIGHTS5),
}


def _stock_keras_value(loss_ir, head, output, target, sample_weight):
    """Stock Keras loss object (default reduction sum_over_batch_size), fed as Keras would be."""
    kind, mode = loss_ir["type"], loss_input_kind(loss_ir, head)
    opts = {} if mode == "predictions" else {"from_logits": mode == "logits"}
    if "label_smoothing" in loss_ir:
        opts["label_smoothing"] = loss_ir["label_smoothing"]
    if kind == "huber":
        opts["delta"] = loss_ir["delta"]
    cls = {"mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "huber": "Huber", BCE: "BinaryCrossentropy",
           CCE: "CategoricalCrossentropy", SCCE: "SparseCategoricalCrossentropy"}[kind]
    y_pred = apply_head(head, output).astype(np.float32) if mode == "predictions" else output
    return float(getattr(keras.losses, cls)(**opts)(target, y_pred, sample_weight=sample_weight))


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_torch_keras_and_stock_keras_agree(case):
    spec, head, output, target, sw = CASES[case]
    loss_ir = ir(spec)
    ref = loss_value(loss_ir, head, output, target, sw)
    t = torch_loss(loss_ir, head, torch.tensor(output), torch.tensor(target), None if sw is None else torch.tensor(sw))
    k = keras_loss(loss_ir, head, tf.constant(output), tf.constant(target), sw)
    assert t.dim() == 0 and len(k.shape) == 0
    assert np.isfinite(ref)
    assert float(t) == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert float(k) == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert _stock_keras_value(loss_ir, head, output, target, sw) == pytest.approx(ref, rel=1e-6, abs=1e-6)
    # per-sample values too, one per sample
    per = per_sample_loss(loss_ir, head, output, target)
    assert per.shape == (len(output),)
    np.testing.assert_allclose(torch_per_sample_loss(loss_ir, head, torch.tensor(output), target).numpy(), per, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(keras_per_sample_loss(loss_ir, head, tf.constant(output), target).numpy(), per, rtol=1e-6, atol=1e-6)


def test_the_documented_extreme_logits_example():
    loss_ir = ir(SCCE)
    np.testing.assert_allclose(per_sample_loss(loss_ir, "softmax", DOC_LOGITS, DOC_LABELS), [60.0, 2.4076059, 40.0], rtol=1e-7)
    for value in (
        loss_value(loss_ir, "softmax", DOC_LOGITS, DOC_LABELS),
        float(torch_loss(loss_ir, "softmax", torch.tensor(DOC_LOGITS), torch.tensor(DOC_LABELS))),
        float(keras_loss(loss_ir, "softmax", tf.constant(DOC_LOGITS), tf.constant(DOC_LABELS))),
    ):
        assert value == pytest.approx(34.1359, abs=5e-5)
    # The clipped probability path is a different number, as in Keras (the doc's 11.548).
    assert loss_value(ir(CCE), "linear", DOC_PROBS, DOC_ONEHOT) == pytest.approx(11.548, abs=5e-4)
    assert loss_value(ir({"type": CCE, "label_smoothing": 0.1}), "softmax", DOC_LOGITS, DOC_ONEHOT) == pytest.approx(32.6581, abs=5e-5)


def test_logits_are_exact_and_finite_at_any_magnitude():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], np.float32)
    assert per_sample_loss(ir(SCCE), "softmax", z, np.array([1, 1])).tolist() == [2000.0, 0.0]
    b = np.array([[-200.0], [200.0]], np.float32)
    np.testing.assert_allclose(per_sample_loss(ir(BCE), "sigmoid", b, np.array([1.0, 1.0])), [200.0, 0.0], rtol=1e-12, atol=1e-80)
    assert float(torch_loss(ir(BCE), "sigmoid", torch.tensor(b), torch.tensor([1.0, 1.0]))) == pytest.approx(100.0)
    assert float(keras_loss(ir(BCE), "sigmoid", tf.constant(b), tf.constant([1.0, 1.0]))) == pytest.approx(100.0)


def test_binary_probabilities_clip_like_keras_not_like_torch_bceloss():
    p, y = np.array([[0.0], [1.0]], np.float32), np.array([1.0, 0.0], np.float32)
    np.testing.assert_allclose(per_sample_loss(ir(BCE), "linear", p, y), [16.118096, 15.942385], rtol=1e-6)
    stock_torch = torch.nn.functional.binary_cross_entropy(torch.tensor(p[:, 0]), torch.tensor(y), reduction="none")
    assert stock_torch.tolist() == [100.0, 100.0]  # what we do NOT do


def test_reduction_divides_by_batch_size_not_by_weight_sum():
    loss_ir = ir(SCCE)
    per = per_sample_loss(loss_ir, "softmax", LOGITS5, LABELS5)
    value = loss_value(loss_ir, "softmax", LOGITS5, LABELS5, WEIGHTS5)
    assert value == pytest.approx(float((WEIGHTS5 * per).sum() / 5), rel=1e-12)
    assert value != pytest.approx(float((WEIGHTS5 * per).sum() / WEIGHTS5.sum()), rel=1e-3)
    # torch's CrossEntropyLoss(weight=…) convention would be Σwℓ/Σw; ours matches Keras instead.
    t = torch_loss(loss_ir, "softmax", torch.tensor(LOGITS5), torch.tensor(LABELS5), torch.tensor(WEIGHTS5[:, None]))
    assert float(t) == pytest.approx(value, rel=1e-6)


def test_n_targets_against_n1_outputs_do_not_broadcast():
    value = loss_value(ir("mse"), "linear", REG_OUT, REG_TARGETS)
    assert value == pytest.approx(float(np.mean((REG_OUT[:, 0] - REG_TARGETS) ** 2)), rel=1e-6)
    wrong = float(np.mean((REG_OUT - REG_TARGETS[None, :]) ** 2))  # torch MSELoss broadcasting to (N, N)
    assert value != pytest.approx(wrong, rel=1e-3)


def test_gradients_with_respect_to_logits_agree():
    loss_ir = ir({"type": CCE, "label_smoothing": 0.1})
    # analytic: (softmax(z) − y_smoothed) · w / N
    y = ONEHOT5 * 0.9 + 0.1 / 4
    expected = (apply_head("softmax", LOGITS5) - y) * WEIGHTS5[:, None] / 5

    zt = torch.tensor(LOGITS5, requires_grad=True)
    torch_loss(loss_ir, "softmax", zt, torch.tensor(ONEHOT5), torch.tensor(WEIGHTS5)).backward()
    zk = tf.Variable(LOGITS5)
    with tf.GradientTape() as tape:
        loss = keras_loss(loss_ir, "softmax", zk, tf.constant(ONEHOT5), WEIGHTS5)
    np.testing.assert_allclose(zt.grad.numpy(), expected, atol=3e-7)
    np.testing.assert_allclose(tape.gradient(loss, zk).numpy(), expected, atol=3e-7)


def test_regularizer_penalties_match_keras():
    w = {"dense/kernel": rng.normal(size=(6, 4)).astype(np.float32), "dense/bias": rng.normal(size=(4,)).astype(np.float32)}
    regs = {"dense/kernel": {"type": "l1_l2", "l1": 0.01, "l2": 0.1}, "dense/bias": {"type": "l2", "l2": 0.5}}
    expected = float(keras.regularizers.L1L2(l1=0.01, l2=0.1)(w["dense/kernel"])) + float(
        keras.regularizers.L2(0.5)(w["dense/bias"])
    )
    assert penalty(w, regs) == pytest.approx(expected, rel=1e-6)
    assert penalty(w, {"dense/bias": {"type": "l1", "l1": 2.0}}) == pytest.approx(2.0 * float(np.abs(w["dense/bias"]).sum()), rel=1e-6)
    assert penalty(w, {}) == 0.0
    with pytest.raises(ValueError, match="do not exist: dense/gamma"):
        penalty(w, {"dense/gamma": {"type": "l2", "l2": 0.1}})
