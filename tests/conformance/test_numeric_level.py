"""The numeric level: correct backends lie within the float32 bounds of the float64 oracle; differences are named.

* Every conformance case passes the numeric level for each installed built-in backend (the kit's batches
  and trajectory, the judge being dnnc.reference).
* Issue 11's reproduction — Fashion-MNIST flatten → dense(32, relu, "hid") → batch_norm → dense(10, softmax),
  Adam, batch 128, seed 0, the last 5000 rows held out — passes for keras, torch and numpy.  On main at
  8322bca it failed keras vs torch (and keras vs numpy): loss at step 19 1.23e-4 relative, hid/kernel[9, 8]
  1.70e-4 after step 20, against a tolerance of 1e-5 (torch and numpy agreed with each other).
* Perturbed models fail, and the failure names the backend, the check and the element.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dnnc.compiler.compile import compile_text
from dnnc.compiler.initial_weights import initial_weights
from dnnc.conformance.batches import synthetic_batches
from dnnc.conformance.cases import CASES, CASES_BY_NAME
from dnnc.conformance.conform import run_conform
from dnnc.conformance.measures import judge
from dnnc.conformance.numeric import numeric_level
from dnnc.conformance.options import ConformOptions
from dnnc.conformance.results import FAIL, PASS
from dnnc.conformance.test_kit import KIT_TRAJECTORY_STEPS
from dnnc.reference import Bounded


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


@pytest.mark.parametrize("name", ["keras", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_case_passes_the_numeric_level_for_the_builtin_backends(case, name):
    """The kit's numeric level on every case (its structure level is the backends' own tests' business)."""
    level = _numeric(case.name, backend_or_skip(name), steps=KIT_TRAJECTORY_STEPS)
    assert level.verdict == PASS, "\n".join(c.message for c in level.failures) or level.error
    assert max(c.error for c in level.checks if c.error is not None) < 1.0  # measured ≤ 0.51 (keras and torch)


ISSUE_11_SPEC = """
spec_version = 1
name = "fashion-hid-bn-adam"
[data]
dataset = "fashion_mnist"
divide_by = 255
validation = { last = 5000 }
[model]
input_shape = [28, 28]
layers = [
  { type = "flatten" },
  { type = "dense", units = 32, activation = "relu", name = "hid" },
  { type = "batch_norm" },
  { type = "dense", units = 10, activation = "softmax" },
]
[training]
loss = "sparse_categorical_crossentropy"
optimizer = "adam"
epochs = 1
batch_size = 128
seed = 0
"""


def test_issue_11_reproduction_passes_for_every_backend(data_dir):
    names = [n for n in ("keras", "torch", "numpy") if _available(n)]
    if len(names) < 2:
        pytest.skip("needs two of keras, torch, numpy")
    ir = compile_text(ISSUE_11_SPEC, "toml", name="issue11")
    report = run_conform(ir, names, ConformOptions(levels=("numeric",), data_dir=data_dir))
    level = report.levels["numeric"]
    assert report.verdict == PASS, "\n".join(report.failure_messages())
    assert {c.backend for c in level.checks} == set(names)  # every backend is judged, the first one too
    steps = {c.step for c in level.checks if c.name == "trajectory weights"}
    assert steps and max(steps) <= 24 and level.data["trajectory_steps"] == 24
    assert 64 in level.data["trajectory_batch_sizes"]  # the epoch-end steps: 192 rows → 128 + 64


def _available(name: str) -> bool:
    from dnnc.plugins.manager import get_registry

    backend = get_registry().backends.get(name)
    return backend is not None and backend.status()[0]


# ---------------------------------------------------------------------------
# the level sees differences and names them
# ---------------------------------------------------------------------------

class Perturbed:
    """A CompiledModel wrapper that corrupts one thing."""

    def __init__(self, model: Any, *, output_delta: float = 0.0, grad_key: str | None = None,
                 grad_scale: float = 1.0, stats_delta: float = 0.0, drop_grad: str | None = None) -> None:
        self._m = model
        self.ir, self.backend_name = model.ir, "perturbed"
        self.output_delta, self.grad_key, self.grad_scale = output_delta, grad_key, grad_scale
        self.stats_delta, self.drop_grad = stats_delta, drop_grad

    def __getattr__(self, name):
        return getattr(self._m, name)

    def forward(self, inputs, *, training=False, dropout_masks=None):
        out = self._m.forward(inputs, training=training, dropout_masks=dropout_masks)
        return {k: v + np.float32(self.output_delta) for k, v in out.items()}

    def get_weights(self):
        w = self._m.get_weights()
        return {k: (v + np.float32(self.stats_delta) if k.endswith("moving_mean") else v) for k, v in w.items()}

    def loss_and_gradients(self, *args, **kwargs):
        losses, grads = self._m.loss_and_gradients(*args, **kwargs)
        if self.grad_key:
            grads = {**grads, self.grad_key: grads[self.grad_key] * np.float32(self.grad_scale)}
        if self.drop_grad:
            grads = {k: v for k, v in grads.items() if k != self.drop_grad}
        return losses, grads


class PerturbedBackend:
    def __init__(self, base, name: str = "perturbed", weights_override=None, **kwargs) -> None:
        self.base, self.name, self.kwargs, self.override = base, name, kwargs, weights_override
        self.supported_ops = base.supported_ops

    def build(self, ir, weights):
        model = self.base.build(ir, self.override(weights) if self.override else weights)
        wrapped = Perturbed(model, **self.kwargs)
        wrapped.backend_name = self.name
        return wrapped


def _numeric(case_name: str, backend, steps: int = 2):
    ir = CASES_BY_NAME[case_name].ir()
    n = CASES_BY_NAME[case_name].batch_size
    return numeric_level(ir, [backend], initial_weights(ir, 0), synthetic_batches(ir, 2, 0, n),
                         synthetic_batches(ir, steps, 1000, n, partial_last=True), ConformOptions())


def _failed(level) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in level.failures:
        out.setdefault(c.name, []).append(c)
    return out


def test_a_correct_backend_passes_with_every_error_inside_the_bound():
    level = _numeric("mlp_bn_dropout", backend_or_skip("torch"), steps=5)
    assert level.verdict == PASS
    # measured 0.51: a moving variance near 1.0, 0.7 ulp from the oracle, against a bound of 1.4 ulp
    assert max(c.error for c in level.checks if c.error is not None) < 0.75


def test_an_output_offset_fails_the_output_checks_naming_the_element():
    level = _numeric("op_dense", PerturbedBackend(backend_or_skip("torch"), output_delta=1e-3))
    failed = _failed(level)
    assert set(failed) == {"inference output", "training-mode output"}
    c = failed["inference output"][0]
    assert c.backend == "perturbed" and c.reference == "oracle" and c.target.startswith("out[")
    assert c.value - c.expected == pytest.approx(1e-3, rel=1e-3)
    assert "[numeric] perturbed vs oracle: inference output of out[" in c.message and "|Δ|/B" in c.message


def test_a_gradient_off_by_a_thousandth_fails_naming_the_parameter():
    level = _numeric("op_batch_norm", PerturbedBackend(backend_or_skip("torch"), grad_key="batch_norm/gamma",
                                                       grad_scale=1.001))
    failed = _failed(level)
    assert set(failed) == {"gradient"}
    assert {c.target.split("[")[0] for c in failed["gradient"]} == {"batch_norm/gamma"}


def test_moving_statistics_and_missing_gradients_fail():
    torch_backend = backend_or_skip("torch")
    level = _numeric("op_batch_norm", PerturbedBackend(torch_backend, stats_delta=1e-3))
    assert {"moving statistics", "trajectory weights"} <= set(_failed(level))
    assert all(c.target.startswith("batch_norm/moving_mean") for c in _failed(level)["moving statistics"])
    level = _numeric("op_dense", PerturbedBackend(torch_backend, drop_grad="dense/bias"))
    (c, *_) = _failed(level)["gradient"]
    assert c.target == "dense/bias" and "gives no value" in c.detail


def test_a_model_that_ignores_its_build_weights_fails_the_first_inference_check():
    zeros = lambda w: {k: np.zeros_like(v) for k, v in w.items()}  # noqa: E731
    level = _numeric("op_dense", PerturbedBackend(backend_or_skip("torch"), weights_override=zeros))
    failed = _failed(level)
    assert set(failed) == {"inference output"}
    assert [c.batch for c in failed["inference output"]] == [1]  # as built; afterwards the weights are set


def test_judge_is_per_element_against_the_bound():
    want = Bounded(np.array([1.0, 0.0, 2.0]), np.array([1e-6, 0.0, np.inf]))
    assert judge("numeric", "x", "b", "t", np.array([1.0 + 9e-7, 0.0, 5.0]), want, factor=1.0).status == PASS
    c = judge("numeric", "x", "b", "t", np.array([1.0 + 2e-6, 0.0, 5.0]), want, factor=1.0)
    assert c.status == FAIL and c.target == "t[0]" and c.error == pytest.approx(2.0, rel=1e-6)
    assert judge("numeric", "x", "b", "t", np.array([1.0 + 2e-6, 0.0, 5.0]), want, factor=3.0).status == PASS
    # an exact zero must stay an exact zero; a NaN against a number fails; any value (NaN too) passes an
    # infinite bound
    assert judge("numeric", "x", "b", "t", np.array([1.0, 1e-20, 5.0]), want, factor=1.0).target == "t[1]"
    assert judge("numeric", "x", "b", "t", np.array([np.nan, 0.0, 5.0]), want, factor=1.0).status == FAIL
    assert judge("numeric", "x", "b", "t", np.array([1.0, 0.0, np.nan]), want, factor=1.0).status == PASS
    shape = judge("numeric", "x", "b", "t", np.zeros(2), want, factor=1.0)
    assert shape.status == FAIL and "shapes differ" in shape.detail
