"""Learning-rate schedules: schema, and learning_rate_at against Keras's own schedule classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from dnnc.numerics import learning_rate_at
from dnnc.spec_schema.schedules import BUILTIN_SCHEDULE_MODELS, ScheduleSpec

keras = pytest.importorskip("keras")

SCHED = TypeAdapter(ScheduleSpec)


def ir(spec) -> dict:
    return SCHED.validate_python(spec).model_dump()


KERAS_CLASS = {
    "exponential_decay": "ExponentialDecay",
    "piecewise_constant": "PiecewiseConstantDecay",
    "cosine_decay": "CosineDecay",
    "polynomial_decay": "PolynomialDecay",
    "inverse_time_decay": "InverseTimeDecay",
}

CASES = [
    {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5},
    {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5, "staircase": True},
    {"type": "exponential_decay", "initial_learning_rate": 1e-3, "decay_steps": 1000, "decay_rate": 0.96},
    {"type": "piecewise_constant", "boundaries": [5, 12, 40], "values": [0.1, 0.05, 0.01, 0.001]},
    {"type": "piecewise_constant", "boundaries": [0], "values": [1.0, 0.5]},
    {"type": "cosine_decay", "initial_learning_rate": 0.05, "decay_steps": 30},
    {"type": "cosine_decay", "initial_learning_rate": 0.05, "decay_steps": 30, "alpha": 0.2},
    {"type": "polynomial_decay", "initial_learning_rate": 0.1, "decay_steps": 25},
    {"type": "polynomial_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.01, "power": 0.5},
    {"type": "polynomial_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "power": 2.0, "cycle": True},
    {"type": "inverse_time_decay", "initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5},
    {"type": "inverse_time_decay", "initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5, "staircase": True},
]

STEPS = list(range(0, 101)) + [999, 1000, 1001, 12345, 100000]


def keras_schedule(spec: dict):
    params = {k: v for k, v in spec.items() if k != "type"}
    return getattr(keras.optimizers.schedules, KERAS_CLASS[spec["type"]])(**params)


@pytest.mark.parametrize("spec", CASES, ids=lambda s: "-".join(f"{v}" for v in s.values())[:60])
def test_learning_rate_at_equals_keras_schedule(spec):
    d = ir(spec)
    schedule = keras_schedule(d)
    ours = np.array([learning_rate_at(d, s) for s in STEPS])
    theirs = np.array([float(schedule(s)) for s in STEPS])
    # Keras evaluates the formula in float32, dnnc in float64 and then rounds, so Keras is
    # off by a few float32 ulps (rounding of pow's exponent at large steps, cancellation in
    # 1 + cos near the end of a cosine decay): 5e-6 relative, or 1e-6 of the schedule's scale.
    np.testing.assert_allclose(ours, theirs, rtol=5e-6, atol=1e-6 * ours.max())
    assert all(v == float(np.float32(v)) for v in ours)  # values are float32-representable


def test_every_schedule_type_is_checked_against_keras():
    types = {m.model_fields["type"].annotation.__args__[0] for m in BUILTIN_SCHEDULE_MODELS}
    assert types == set(KERAS_CLASS) == {c["type"] for c in CASES}


def test_edge_cases_by_value():
    pw = ir({"type": "piecewise_constant", "boundaries": [2, 5], "values": [1.0, 0.5, 0.25]})
    # Boundaries belong to the lower segment: step <= 2 → 1.0, 2 < step <= 5 → 0.5, step > 5 → 0.25.
    assert [learning_rate_at(pw, s) for s in range(8)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]

    cos = ir({"type": "cosine_decay", "initial_learning_rate": 1.0, "decay_steps": 4, "alpha": 0.0})
    assert learning_rate_at(cos, 2) == pytest.approx(0.5)
    assert [learning_rate_at(cos, s) for s in (4, 5, 6, 100)] == [0.0, 0.0, 0.0, 0.0]  # clamped, no restart

    exp = ir({"type": "exponential_decay", "initial_learning_rate": 1.0, "decay_steps": 10, "decay_rate": 0.5, "staircase": True})
    assert [learning_rate_at(exp, s) for s in (0, 9, 10, 19, 20)] == [1.0, 1.0, 0.5, 0.5, 0.25]

    poly = ir({"type": "polynomial_decay", "initial_learning_rate": 1.0, "decay_steps": 10, "end_learning_rate": 0.0})
    assert [learning_rate_at(poly, s) for s in (0, 5, 10, 50)] == [1.0, 0.5, 0.0, 0.0]
    cyc = ir({"type": "polynomial_decay", "initial_learning_rate": 1.0, "decay_steps": 10, "end_learning_rate": 0.0, "cycle": True})
    # Step 10 ends the first period; step 15 is halfway through the stretched period of 20.
    assert [learning_rate_at(cyc, s) for s in (0, 10, 15, 20)] == [1.0, 0.0, 0.25, 0.0]

    inv = ir({"type": "inverse_time_decay", "initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 1.0})
    assert learning_rate_at(inv, 4) == pytest.approx(1.0 / 3.0, rel=1e-7)


def test_constant_rate_is_rounded_to_float32():
    assert learning_rate_at(0.1, 0) == float(np.float32(0.1)) != 0.1
    assert learning_rate_at(0.1, 10**6) == learning_rate_at(0.1, 0)


def test_learning_rate_at_rejects_bad_input():
    with pytest.raises(ValueError, match="step must be >= 0"):
        learning_rate_at(0.1, -1)
    with pytest.raises(ValueError, match="unknown learning-rate schedule type 'warmup'; known: cosine_decay"):
        learning_rate_at({"type": "warmup"}, 0)


def test_keras_optimizer_starts_at_the_schedule_value_for_step_zero():
    from dnnc.backends.keras.optimizers import build_keras_optimizer

    opt = build_keras_optimizer(
        {"type": "sgd", "learning_rate": ir(CASES[0]), "momentum": 0.0, "nesterov": False,
         "weight_decay": 0.0, "clipnorm": None, "global_clipnorm": None, "clipvalue": None}
    )
    assert float(np.asarray(opt.learning_rate)) == learning_rate_at(ir(CASES[0]), 0)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.9}, "greater than 0"),
        ({"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 10}, "decay_rate"),
        ({"type": "exponential_decay", "initial_learning_rate": -0.1, "decay_steps": 10, "decay_rate": 0.9}, "greater than or equal to 0"),
        ({"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 2.5, "decay_rate": 0.9}, "Input should be a valid integer"),
        ({"type": "piecewise_constant", "boundaries": [5, 10], "values": [0.1, 0.01]},
         "one more entry than boundaries (received 2 boundaries [5, 10] and 2 values [0.1, 0.01])"),
        ({"type": "piecewise_constant", "boundaries": [10, 10], "values": [0.1, 0.01, 0.001]}, "strictly increasing"),
        ({"type": "piecewise_constant", "boundaries": [], "values": [0.1]}, "at least 1 item"),
        ({"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 1.5}, "less than or equal to 1"),
        ({"type": "polynomial_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "power": 0}, "greater than 0"),
        ({"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "warmup_steps": 5}, "Extra inputs"),
        ({"type": "step_decay"}, "'exponential_decay', 'piecewise_constant'"),
    ],
)
def test_invalid_schedules_are_rejected(spec, fragment):
    with pytest.raises(ValidationError) as err:
        ir(spec)
    assert fragment in str(err.value)


def test_piecewise_exact_values_at_large_steps_match_keras():
    d = ir({"type": "piecewise_constant", "boundaries": [100000, 110000], "values": [1.0, 0.5, 0.1]})
    schedule = keras_schedule(d)
    for s in (99999, 100000, 100001, 110000, 110001):
        assert learning_rate_at(d, s) == pytest.approx(float(schedule(s)), rel=1e-7)
    assert math.isclose(learning_rate_at(d, 110001), float(np.float32(0.1)))
