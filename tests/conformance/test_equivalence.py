"""Cross-backend equivalence: every conformance case passes the harness between the installed backends.

The pairs are (keras, torch) and, as a sanity check of the harness itself,
(torch, torch).  A backend that is not registered or not available is skipped
with the reason the plugin registry gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dnnc.conformance.cases import CASES, CASES_BY_NAME
from dnnc.conformance.equivalence import (
    DEFAULT_TOLERANCES,
    CheckResult,
    Tolerance,
    compare_arrays,
    compare_backends,
    compare_models,
    make_batch,
)

PAIRS = [("keras", "torch"), ("torch", "torch")]


def backend_or_skip(name: str):
    from dnnc.plugins.manager import get_registry

    registry = get_registry()
    backend = registry.backends.get(name)
    if backend is None:
        why = "; ".join(f.render() for f in registry.failures if f.plugin == name) or "no plugin registers it"
        pytest.skip(f"backend {name!r} is not registered ({why})")
    available, detail = backend.status()
    if not available:
        pytest.skip(f"backend {name!r} is not available: {detail}")
    return backend


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(p) for p in PAIRS])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_equivalent_across_backends(case, pair):
    first, second = (backend_or_skip(name) for name in pair)
    report = compare_backends(case.ir(), first, second, batch_size=case.batch_size, seed=0)
    assert [c.name for c in report.checks] == ["param_counts", "inference", "training_forward", "moving_stats",
                                               "loss", "gradients"]
    assert report.passed, report.render()


# ---------------------------------------------------------------------------
# The harness itself: it must see differences and name where they are
# ---------------------------------------------------------------------------

class Perturbed:
    """A CompiledModel wrapper that corrupts one thing."""

    def __init__(self, model: Any, *, output_delta: float = 0.0, grad_key: str | None = None,
                 grad_scale: float = 1.0, counts: dict | None = None, stats_delta: float = 0.0) -> None:
        self._m = model
        self.ir, self.backend_name = model.ir, "perturbed"
        self.output_delta, self.grad_key, self.grad_scale = output_delta, grad_key, grad_scale
        self.counts, self.stats_delta = counts, stats_delta

    def __getattr__(self, name):
        return getattr(self._m, name)

    def forward(self, inputs, *, training=False, dropout_masks=None):
        out = self._m.forward(inputs, training=training, dropout_masks=dropout_masks)
        return {k: v + self.output_delta for k, v in out.items()}

    def get_weights(self):
        w = self._m.get_weights()
        return {k: (v + self.stats_delta if k.endswith("moving_mean") else v) for k, v in w.items()}

    def loss_and_gradients(self, *args, **kwargs):
        losses, grads = self._m.loss_and_gradients(*args, **kwargs)
        if self.grad_key:
            grads = {**grads, self.grad_key: grads[self.grad_key] * self.grad_scale}
        return losses, grads

    def layer_param_counts(self):
        return {**self._m.layer_param_counts(), **(self.counts or {})}


def _torch_pair(case_name: str):
    torch_backend = backend_or_skip("torch")
    from dnnc.compiler.initial_weights import initial_weights

    ir = CASES_BY_NAME[case_name].ir()
    weights = initial_weights(ir, 0)
    return torch_backend.build(ir, weights), torch_backend.build(ir, weights)


def test_harness_passes_identical_models_with_zero_difference():
    a, b = _torch_pair("mlp_bn_dropout")
    report = compare_models(a, b, batch_size=16)
    assert report.passed, report.render()
    for check in report.checks:
        assert check.max_abs_diff == 0.0, check.render()


def test_harness_names_the_output_element_at_fault():
    a, b = _torch_pair("op_dense")
    report = compare_models(a, Perturbed(b, output_delta=1e-3))
    assert not report.passed
    failed = {c.name: c for c in report.failures}
    assert set(failed) == {"inference", "training_forward"}
    assert failed["inference"].worst_key.startswith("out[")
    assert failed["inference"].max_abs_diff == pytest.approx(1e-3, rel=1e-3)
    assert "FAIL" in report.render() and "NOT equivalent" in report.render()


def test_harness_names_the_parameter_whose_gradient_differs():
    a, b = _torch_pair("op_batch_norm")
    report = compare_models(a, Perturbed(b, grad_key="batch_norm/gamma", grad_scale=1.001))
    assert [c.name for c in report.failures] == ["gradients"]
    assert report.check("gradients").worst_key.startswith("batch_norm/gamma[")
    assert report.check("gradients").max_rel_diff == pytest.approx(1e-3, rel=0.05)


def test_harness_checks_moving_statistics_and_counts():
    a, b = _torch_pair("op_batch_norm")
    report = compare_models(a, Perturbed(b, stats_delta=1e-3, counts={"batch_norm": (10, 11)}))
    failed = {c.name: c for c in report.failures}
    assert set(failed) == {"moving_stats", "param_counts"}
    assert failed["moving_stats"].worst_key.startswith("batch_norm/moving_mean[")
    assert failed["param_counts"].worst_key == "perturbed:batch_norm"
    assert "has (10, 11), IR (10, 10)" in failed["param_counts"].detail


def test_checks_without_subject_are_skipped_not_failed():
    a, b = _torch_pair("op_dense")
    report = compare_models(a, b)
    stats = report.check("moving_stats")
    assert stats.passed and stats.skipped and "no non-trainable" in stats.detail


def test_tolerances_are_absolute_for_small_and_relative_for_large_values():
    tol = DEFAULT_TOLERANCES["inference"]
    assert compare_arrays("x", {"y": np.array([0.5])}, {"y": np.array([0.5 + 9e-6])}, tol).passed
    assert not compare_arrays("x", {"y": np.array([0.5])}, {"y": np.array([0.5 + 2e-5])}, tol).passed
    big = compare_arrays("x", {"y": np.array([1000.0])}, {"y": np.array([1000.009])}, tol)
    assert big.passed and big.max_abs_diff == pytest.approx(0.009)
    rel = Tolerance("relative", rtol=1e-4)
    result = compare_arrays("g", {"w": np.array([[1.0, 1e-9]])}, {"w": np.array([[1.0, 5e-9]])}, rel)
    assert result.passed  # a tiny entry is judged against the array's scale
    result = compare_arrays("g", {"w": np.array([[1.0, 0.0]])}, {"w": np.array([[1.0, 1e-3]])}, rel)
    assert not result.passed and result.worst_key == "w[0, 1]"
    nan = compare_arrays("x", {"y": np.array([np.nan])}, {"y": np.array([1.0])}, tol)
    assert not nan.passed


def test_check_result_renders_one_line():
    line = CheckResult("gradients", False, 0.1, 0.2, "rtol", "dense/kernel[0, 1]").render()
    assert line.startswith("FAIL gradients") and "worst: dense/kernel[0, 1]" in line


def test_make_batch_matches_the_output_targets():
    ir = CASES_BY_NAME["two_outputs"].ir()
    inputs, targets, masks = make_batch(ir, 4, seed=1)
    assert inputs["wide"].shape == (4, 5) and inputs["deep"].dtype == np.float32
    assert targets["main"].shape == (4, 1) and masks == {}
    ir = CASES_BY_NAME["op_dropout"].ir()
    inputs, targets, masks = make_batch(ir, 4, seed=1)
    assert targets["out"].dtype == np.int64 and targets["out"].shape == (4,)
    assert set(np.unique(masks["dropout"])) <= {0.0, 1.0} and masks["dropout"].shape == (4, 8)
