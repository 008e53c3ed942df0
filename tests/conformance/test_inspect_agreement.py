"""`dnnc inspect --backends keras,torch` on the six initialisation examples: the backends agree, and the
lecture's conclusions hold in the measured statistics (the numbers docs/inspect.md reports)."""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.conformance.results import FAIL, PASS
from dnnc.inspection.agreement import agreement
from dnnc.inspection.run import inspect_target
from support.paths import EXAMPLES

pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("keras", reason="keras is not installed")

EXAMPLES_SIX = ["sigmoid_std1", "sigmoid_std001", "sigmoid_glorot", "relu_std001", "relu_glorot", "relu_he"]


@pytest.fixture(scope="module")
def inspected(tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect")
    return {name: inspect_target(EXAMPLES / f"init_histograms_{name}.toml", backends=["keras", "torch"],
                                 out=out / name, plots=False) for name in EXAMPLES_SIX}


def hidden(result, backend="keras"):
    return [row["activations"] for row in result.stats[backend][:5]]


@pytest.mark.parametrize("name", EXAMPLES_SIX)
def test_keras_and_torch_agree(inspected, name):
    result = inspected[name]
    assert result.verdict == PASS, "\n".join(c.message for c in result.checks if c.status == FAIL)
    assert result.rows == 1000 and [len(i.layers) for i in result.inspections] == [6, 6]
    names = {c.name for c in result.checks}
    assert {"activations", "activation statistics", "output gradients", "parameter gradients", "gradient norms",
            "weights", "loss"} <= names
    assert ("saturated fraction" if "sigmoid" in name else "dead units") in names
    for keras_row, torch_row in zip(result.stats["keras"], result.stats["torch"]):
        for key in ("saturated_fraction", "zero_fraction", "dead_units"):
            assert keras_row["activations"].get(key) == torch_row["activations"].get(key)


def test_sigmoid_with_unit_std_piles_up_at_0_and_1_and_the_gradients_shrink_towards_the_input(inspected):
    result = inspected["sigmoid_std1"]
    assert all(a["saturated_fraction"] > 0.6 for a in hidden(result))
    ratios = [row["parameter_gradient_ratio"] for row in result.stats["keras"]]
    assert ratios[0] < 0.15 and ratios == sorted(ratios)


def test_sigmoid_with_std_001_piles_up_at_one_half(inspected):
    for a in hidden(inspected["sigmoid_std001"]):
        assert abs(a["mean"] - 0.5) < 0.005 and a["std"] < 0.03 and a["saturated_fraction"] == 0.0


def test_sigmoid_with_glorot_stays_spread(inspected):
    for a in hidden(inspected["sigmoid_glorot"]):
        assert 0.1 < a["std"] < 0.25 and a["saturated_fraction"] < 0.01


def test_relu_with_std_001_and_glorot_shrink_layer_by_layer_and_he_keeps_the_spread(inspected):
    def shrink(name):
        stds = [a["std"] for a in hidden(inspected[name])]
        return np.array(stds[1:]) / np.array(stds[:-1])

    def average(name):  # the geometric mean of the four ratios
        return float(np.prod(shrink(name)) ** (1 / 4))

    # One 100 × 100 kernel's draw moves one layer's ratio by several hundredths (measured with the float32
    # draws: Glorot 0.653–0.818, average 0.694; He 0.924–1.157, average 0.981), the average much less.
    assert np.all(shrink("relu_std001") < 0.1)
    assert np.all((shrink("relu_glorot") > 0.6) & (shrink("relu_glorot") < 0.85))
    assert 0.66 < average("relu_glorot") < 0.74  # about 1/sqrt(2)
    assert np.all((shrink("relu_he") > 0.88) & (shrink("relu_he") < 1.2))
    assert 0.95 < average("relu_he") < 1.02
    for name in ("relu_std001", "relu_glorot", "relu_he"):
        for a in hidden(inspected[name]):
            assert 0.45 < a["zero_fraction"] < 0.6 and a["dead_units"] <= 4


def test_a_difference_is_a_failure_naming_the_backend_the_layer_and_the_tolerance(inspected):
    keras_run, torch_run = inspected["relu_he"].inspections
    torch_run.layers[2].activations = torch_run.layers[2].activations * np.float32(1.001)
    try:
        failed = [c for c in agreement(keras_run, torch_run) if c.status == FAIL]
    finally:
        torch_run.layers[2].activations = torch_run.layers[2].activations / np.float32(1.001)
    assert {c.name for c in failed} == {"activations", "activation statistics"}
    message = next(c.message for c in failed if c.name == "activations")
    assert message.startswith("[inspect] torch vs keras: activations of dense_2[")
    assert "> tolerance 1e-05" in message

