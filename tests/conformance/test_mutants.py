"""Detection power: `dnnc conform` fails every mutant of tests/support/mutants.py at the numeric level.

Each mutant is the torch backend with one planted defect (issue 11's list), judged on its mutation spec
(MNIST, batch 64: batch norm, dropout, leaky ReLU, an L2 penalty, Adam(W) with weight decay and a
learning rate that decays every step; SGD with Nesterov momentum for the Nesterov mutant) with a short
trajectory (4 steps, then the 4 epoch-end steps that contain partial batches).  The controls — the same
wrappers without a defect — must pass, so that a failure is the defect's and not the wrapper's.
`benchmarks/detection_power.py` measures the table of docs/conformance.md ("Detection power").
"""

from __future__ import annotations

import pytest

from support.mutants import CONTROL, MUTANTS, RECOMPOSED_CONTROL, installed, mutant_backend, mutation_ir

OPTIONS = dict(levels=("structure", "numeric"), trajectory_steps=4)


@pytest.fixture(scope="module")
def mnist(data_dir):
    from dnnc.conformance.conform import load_datasets

    return load_datasets(mutation_ir(CONTROL), data_dir=data_dir)


def _conform(name: str, datasets):
    from dnnc.conformance.conform import run_conform
    from dnnc.conformance.options import ConformOptions

    pytest.importorskip("torch")
    backend = mutant_backend(name, "torch")
    with installed(backend):
        return run_conform(mutation_ir(name), ["torch", backend.name], ConformOptions(**OPTIONS), datasets=datasets)


@pytest.mark.parametrize("name", [CONTROL, RECOMPOSED_CONTROL])
def test_the_wrappers_without_a_defect_pass(name, mnist):
    report = _conform(name, mnist)
    assert report.verdict == "PASS", "\n".join(report.failure_messages())


@pytest.mark.parametrize("name", list(MUTANTS))
def test_every_mutant_fails_the_numeric_level_naming_the_mutant(name, mnist):
    report = _conform(name, mnist)
    assert report.verdict == "FAIL"
    numeric = report.levels["numeric"]
    assert numeric.verdict == "FAIL", f"{name}: the numeric level did not see it"
    assert {c.backend for c in numeric.failures} == {f"torch~{name}"}  # the unmutated torch passes
