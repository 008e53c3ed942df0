"""The float32 drift calibration of the training level, on the NumPy fake backend (no framework needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dnnc.conformance.conform import load_datasets
from dnnc.conformance.drift import (CONTROL, FLOOR, Trajectory, checkpoints, drift, drift_factors, factor, measure_drift,
                                    reordered_rows, ulp_hyperparameters, weights_distance)
from dnnc.conformance.options import ConformOptions
from dnnc.conformance.results import FAIL, PASS, ConformReport
from dnnc.conformance.training import train_with_runner, training_level
from support.fakes import FakeBackend, NumpyModel, ir_from_toml, xor_spec

# XOR repeated 64 times: 256 rows, batch 8 → 32 steps per epoch; dropout so that the masks matter.
SPEC = xor_spec(repeat=64, batch=8, rate=0.25, epochs=2)


class RoundedOnce(NumpyModel):
    """A correct backend that rounds differently: the update w − lr·g is computed in float64 and rounded once
    (the fake's own rounds lr·g to float32 first)."""

    def train_step(self, inputs, targets, *, learning_rate, sample_weight=None, dropout_masks=None):
        from dnnc.backends.base import StepResult

        losses, ev = self._evaluate(inputs, targets, sample_weight, True, dropout_masks)
        for k, g in ev.gradients.items():
            self.w[k] = (self.w[k].astype(np.float64) - learning_rate * np.asarray(g, np.float64)).astype(np.float32)
        return StepResult(losses=losses, outputs=self._outputs(ev))


class LateRate(NumpyModel):
    """A defect: every step uses 1 % more than the scheduled learning rate."""

    def train_step(self, inputs, targets, *, learning_rate, **kw):
        return super().train_step(inputs, targets, learning_rate=1.01 * learning_rate, **kw)


def backend_of(model_class, name):
    class Backend(FakeBackend):
        def build(self, ir, weights):
            return model_class(ir, weights)

    b = Backend()
    b.name = name
    return b


@pytest.fixture(scope="module")
def xor():
    ir = ir_from_toml(SPEC, "xor")
    return ir, load_datasets(ir)


def test_checkpoints_are_geometric_and_include_both_ends():
    steps = checkpoints(1688, 40)
    assert steps[0] == 1 and steps[-1] == 1688 and steps == sorted(set(steps))
    assert 25 <= len(steps) <= 40
    ratios = [b / a for a, b in zip(steps[10:], steps[11:])]
    assert max(ratios) < 1.3 and min(ratios) > 1.1       # geometric once the integer steps thin out
    assert checkpoints(1) == [1] and checkpoints(0) == []


def test_weights_distance_and_drift_curves():
    ref = {"a": np.array([3.0, 4.0]), "b": np.zeros(2)}
    assert weights_distance(ref, ref) == 0.0
    assert weights_distance({"a": np.array([3.0, 4.0]), "b": np.array([0.0, 0.5])}, ref) == pytest.approx(0.1)
    r = Trajectory(losses=[1.0, 2.0, 4.0, 8.0], weights={1: ref, 4: ref})
    x = Trajectory(losses=[1.0, 2.2, 4.0, 8.8], weights={1: ref, 4: {"a": np.array([3.0, 4.5]), "b": np.zeros(2)}})
    curve = drift(x, r)
    assert curve.steps == [1, 4] and curve.weights == [0.0, pytest.approx(0.1)]
    assert curve.loss == [0.0, pytest.approx((0.1 + 0.0 + 0.1) / 3)]   # mean of steps 2–4


def test_the_factor_compares_with_the_controls_drift_within_eight_times_the_steps():
    steps = [1, 2, 4, 8, 16, 32]
    control = [1e-7, 1e-7, 1e-7, 1e-7, 1e-3, 1e-2]
    # the cross drift takes off at step 4; the control does by step 16 ≤ 8·4: within the tolerance in time
    cross = [1e-7, 1e-7, 1e-4, 1e-3, 1e-3, 1e-2]
    f, k, env = factor(steps, cross, [control])
    assert f == pytest.approx(1.0) and k == 0 and env == 1e-7
    # compared at the same step, step 8 would be 1e4 times the control
    assert factor(steps, cross, [control], time_tolerance=1)[:2] == (pytest.approx(1e4), 3)
    # a jump at the first step is far above anything the control reaches within 8 steps
    f, k, env = factor(steps, [1e-4] * 6, [control])
    assert f == pytest.approx(1e3) and k == 0 and env == 1e-7
    # several controls (seeds): the envelope is the largest of them
    late = [1e-7] * 5 + [1e-2]
    assert factor(steps, cross, [late], time_tolerance=1)[0] == pytest.approx(1e4)
    assert factor(steps, cross, [late, control])[0] == pytest.approx(1.0)
    # both at or below one ulp: the floor makes the factor 1, not 0/0
    assert factor(steps, [0.0] * 6, [[0.0] * 6])[0] == pytest.approx(1.0)
    assert factor(steps, [math.inf] + [0.0] * 5, [control])[0] == math.inf


def test_the_control_moves_every_float_hyperparameter_by_one_ulp(xor):
    text = xor_spec(training_extra="").replace('optimizer = { type = "sgd", learning_rate = 0.5 }',
                                              'optimizer = { type = "adam", learning_rate = 0.001 }')
    ir = ir_from_toml(text.replace('{ type = "dropout", rate = 0.0 },', '{ type = "batch_norm" },'), "bn")
    moved = ulp_hyperparameters(ir, 0)
    before, after = ir.training.optimizer, moved.training.optimizer
    for key in ("learning_rate", "beta_1", "beta_2", "epsilon"):
        f32 = np.float32(before[key])
        assert np.float32(after[key]) in (np.nextafter(f32, np.float32(np.inf)), np.nextafter(f32, np.float32(-np.inf)))
    assert after["weight_decay"] == before["weight_decay"] == 0.0 and after["amsgrad"] is False
    (bn,) = [n for n in moved.nodes if n.op == "batch_norm"]
    (bn0,) = [n for n in ir.nodes if n.op == "batch_norm"]
    assert bn.attrs.momentum != bn0.attrs.momentum and abs(bn.attrs.momentum - bn0.attrs.momentum) < 1e-7
    assert bn.attrs.epsilon != bn0.attrs.epsilon and moved.nodes[0] == ir.nodes[0]


def test_reordered_rows_keep_the_step_and_change_only_the_rounding(xor):
    """The control's executor: the same losses, outputs in the batch's order, masks following their rows."""
    from dnnc.compiler.initial_weights import initial_weights
    from dnnc.runner.dropout import DropoutMasks
    from dnnc.runner.executor import LocalExecutor
    from dnnc.runner.loop import gather

    ir, data = xor
    strict = ir.model_copy(update={"training": ir.training.model_copy(update={"strict_parity": True})})
    w = initial_weights(strict, 0)
    batch = gather(data.train, np.arange(8))
    masks = DropoutMasks(strict, 0).for_step(0, 8)
    plain, moved = NumpyModel(strict, w), NumpyModel(strict, w)
    a = LocalExecutor(plain).train_step(batch, learning_rate=0.5, dropout_masks=masks)
    b = reordered_rows(3)(moved).train_step(batch, learning_rate=0.5, dropout_masks=masks)
    assert b.losses["loss"] == pytest.approx(a.losses["loss"], rel=1e-12)
    for key in a.outputs:
        np.testing.assert_allclose(b.outputs[key], a.outputs[key], rtol=1e-6)
    for key, value in plain.get_weights().items():
        np.testing.assert_allclose(moved.get_weights()[key], value, rtol=1e-6, atol=1e-7)


def test_measure_drift_the_same_backend_twice_stays_on_the_floor(xor):
    ir, data = xor
    d = measure_drift(train_with_runner, ir, [FakeBackend(), backend_of(NumpyModel, "twin")], data, seed=0)
    assert set(d.curves) == {"twin", "fake" + CONTROL}
    twin, control = d.curves["twin"], d.curves["fake" + CONTROL]
    assert twin.steps == control.steps == checkpoints(32, 40)
    assert max(twin.weights) == 0.0 and max(twin.loss) == 0.0      # identical computation, identical run
    # the control starts one ulp away: relative L2 between 2⁻²⁵ and 2⁻²³
    assert 2 ** -25 < control.weights[0] < 2 ** -22
    # no drift at all: the floor (one ulp) over the control's drift, below 1
    factors = drift_factors([d], "twin")
    assert factors["weights"]["factor"] == pytest.approx(FLOOR / max(control.weights[:8]))
    assert factors["loss"]["factor"] <= 1.0 and factors["weights"]["per_seed"] == {0: factors["weights"]["factor"]}
    assert d.to_dict()["control"] == "fake" + CONTROL


def test_a_backend_that_rounds_differently_drifts_like_the_control_and_a_defect_does_not(xor):
    """Measured (seeds 0 and 1, 32 steps): RoundedOnce factors 0.59 and 0.56 (weights), 1.0 (loss: on the floor);
    the 1 % learning-rate defect 2.4e4 and 3.1e4 (weights), 2.6e4 and 4.3e4 (loss): its weights are 6e-4 to 8e-4
    apart after one step, the control's 9e-8."""
    ir, data = xor
    d = measure_drift(train_with_runner, ir, [FakeBackend(), backend_of(RoundedOnce, "rounded"),
                                              backend_of(LateRate, "late")], data, seed=0)
    rounded, late = drift_factors([d], "rounded"), drift_factors([d], "late")
    assert rounded["weights"]["factor"] <= 2 and rounded["loss"]["factor"] <= 2, rounded
    assert late["weights"]["factor"] >= 1e3 and late["loss"]["factor"] >= 1e2, late
    assert max(d.curves["rounded"].weights) > 0     # it does round differently


def test_the_training_level_fails_a_defect_on_drift_alone_and_reports_the_cost(xor, tmp_path):
    """Two seeds of XOR: every backend reaches the same accuracy (a 1 % rate change does not move it), but the
    defect's drift factor fails its check; the correct variant passes."""
    ir, data = xor
    backends = [FakeBackend(), backend_of(RoundedOnce, "rounded"), backend_of(LateRate, "late")]
    options = ConformOptions(seeds=(0, 1), max_seeds=2, tolerance_pp=5.0, drift_epochs=1)
    result, info = training_level(ir, backends, data, options)
    acc = {c["backend"]: c["status"] for c in result.data["comparisons"]}
    assert acc == {"rounded": PASS, "late": PASS}
    drift_checks = {(c.backend, c.target): c for c in result.checks if c.name == "float32 drift"}
    assert set(drift_checks) == {(b, q) for b in ("rounded", "late") for q in ("weights", "loss")}
    assert drift_checks[("rounded", "weights")].status == PASS and drift_checks[("rounded", "loss")].status == PASS
    late = drift_checks[("late", "weights")]
    assert late.status == FAIL and late.error > 10 and late.tolerance == 10.0
    assert "seed 0:" in late.detail and "seed 1:" in late.detail and "1 ulp" in late.message
    assert result.verdict == FAIL
    assert len(result.data["drift"]) == 2 and result.data["drift"][0]["epochs"] == 1
    cost = result.data["cost"]
    assert cost["training_runs"] == 6 and cost["drift_runs"] == 8 and cost["seconds"] >= cost["drift_seconds"]

    from dnnc.conformance.report import markdown, write_chart

    report = ConformReport("xor.toml", "xor", [b.name for b in backends], levels={"training": result},
                           backend_info=info)
    text = markdown(report)
    assert "| late | weights |" in text and "Cost: 6 training runs" in text and "Float32 drift" in text
    chart = write_chart(report, tmp_path / "c.png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 30_000


def test_drift_epochs_zero_leaves_the_calibration_out(xor):
    ir, data = xor
    options = ConformOptions(seeds=(0, 1), max_seeds=2, drift_epochs=0)
    result, _ = training_level(ir, [FakeBackend(), backend_of(LateRate, "late")], data, options)
    assert not [c for c in result.checks if c.name == "float32 drift"] and "drift" not in result.data
    assert result.data["cost"]["drift_runs"] == 0
