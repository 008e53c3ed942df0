"""Metric accumulators: formulas, heads, thresholds on logits, aggregation over batches."""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.compiler.ir import OutputIR
from dnnc.runner.metrics import (METRIC_TYPES, BinaryAccuracy, MetricSet, Precision, Recall, TopKAccuracy,
                                 logit_threshold)
from support.fakes import ir_from_toml, xor_spec


def out(head="linear", target="regression", shape=(1,)):
    return OutputIR(name="o", shape=shape, head=head, target=target, loss={"type": "mse"})


def test_binary_accuracy_is_strict_and_computed_on_logits():
    acc = BinaryAccuracy(out("sigmoid", "binary"), {"threshold": 0.5})
    z = np.array([[1e-8], [0.0], [-1e-8], [3.0]], dtype=np.float32)
    y = np.array([[1], [0], [0], [1]], dtype=np.float32)
    acc.update(z, y)
    # z = 1e-8 > 0 is positive (sigmoid would round to exactly 0.5 in float32); z = 0 (p = 0.5) is not (strict >)
    assert np.float32(1.0) / (np.float32(1.0) + np.exp(np.float32(-1e-8))) == np.float32(0.5)
    assert acc.result() == 1.0
    other = BinaryAccuracy(out("sigmoid", "binary"), {"threshold": 0.8})
    other.update(np.array([[logit_threshold(0.8) + 1e-6], [logit_threshold(0.8) - 1e-6]]), np.array([[1.0], [0.0]]))
    assert other.result() == 1.0
    linear = BinaryAccuracy(out(), {"threshold": 0.5})
    linear.update(np.array([[0.5], [0.51]]), np.array([[0.0], [1.0]]))
    assert linear.result() == 1.0


def test_binary_accuracy_of_several_units_is_the_per_sample_mean():
    acc = BinaryAccuracy(out("sigmoid", "binary", (3,)), {"threshold": 0.5})
    acc.update(np.array([[1, -1, 1], [1, 1, 1]], dtype=np.float32), np.array([[1, 0, 0], [0, 0, 0]], dtype=np.float32))
    assert acc.result() == pytest.approx((2 / 3 + 0 / 3) / 2)


def test_top_k_counts_ties_straddling_the_boundary_as_in_tf():
    acc = TopKAccuracy(out("softmax", "sparse", (4,)), {"k": 2})
    logits = np.array([[4, 3, 3, 1], [4, 3, 2, 1], [1, 2, 3, 4]], dtype=np.float32)
    acc.update(logits, np.array([2, 2, 0]))
    assert acc.result() == pytest.approx(1 / 3)  # row 0: class 2 ties for 2nd place → in; rows 1, 2 out
    one_hot = TopKAccuracy(out("softmax", "one_hot", (4,)), {"k": 1})
    one_hot.update(logits, np.eye(4, dtype=np.float32)[[0, 1, 3]])
    assert one_hot.result() == pytest.approx(2 / 3)


def test_precision_and_recall_count_every_element():
    p, r = Precision(out("sigmoid", "binary"), {"threshold": 0.5}), Recall(out("sigmoid", "binary"), {"threshold": 0.5})
    z = np.array([[2.0], [1.0], [-1.0], [-2.0], [0.5]])
    y = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    for m in (p, r):
        m.update(z[:2], y[:2])
        m.update(z[2:], y[2:])
    assert p.result() == pytest.approx(2 / 3)  # TP 2 (rows 0, 4), FP 1 (row 1)
    assert r.result() == pytest.approx(2 / 3)  # FN 1 (row 2)
    empty = Precision(out("sigmoid", "binary"), {"threshold": 0.5})
    empty.update(np.array([[-1.0]]), np.array([[0.0]]))
    assert empty.result() == 0.0


def test_regression_metrics_use_the_head_and_aggregate_over_samples():
    mse = METRIC_TYPES["mse"](out("softmax", "sparse", (2,)), {})
    mse.update(np.array([[0.0, 0.0]]), np.array([1]))  # probabilities (0.5, 0.5) vs one-hot (0, 1)
    assert mse.result() == pytest.approx(0.25)
    rmse = METRIC_TYPES["rmse"](out(), {})
    mae = METRIC_TYPES["mae"](out(), {})
    for m in (rmse, mae):
        m.update(np.array([[1.0], [2.0], [3.0]]), np.zeros((3, 1)))
        m.update(np.array([[4.0]]), np.zeros((1, 1)))
    assert rmse.result() == pytest.approx(np.sqrt((1 + 4 + 9 + 16) / 4))  # not the mean of per-batch rmse
    assert mae.result() == pytest.approx(10 / 4)


def test_metric_set_state_round_trip_and_accuracy_over_batches():
    ir = ir_from_toml(xor_spec())
    name = ir.outputs[0].name
    ms = MetricSet(ir)
    assert ms.keys() == ["loss", "accuracy"]
    # 3 batches: 1/2, 2/2, 0/1 correct → 3/5, while the mean of batch means is 0.5
    for z, y, loss in (([1, 1], [1, 0], 0.2), ([-1, 1], [0, 1], 0.4), ([1], [0], 1.0)):
        ms.update({"loss": loss}, {name: np.array(z, np.float32)[:, None]}, {name: np.array(y, np.float32)[:, None]}, len(y))
    assert ms.result("val_") == {"val_loss": pytest.approx((0.4 + 0.8 + 1.0) / 5), "val_accuracy": pytest.approx(3 / 5)}
    other = MetricSet(ir)
    other.load_state(ms.state())
    assert other.result() == ms.result()
