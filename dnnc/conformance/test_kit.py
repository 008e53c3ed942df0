"""The dnnc conformance kit: check an installed backend against a reference backend.

    pytest --pyargs dnnc.conformance --dnnc-backend NAME [--dnnc-reference torch] [--dnnc-spec SPEC ...]

For every case of :mod:`dnnc.conformance.cases` (one per op, activation,
initializer and loss):

* ``test_equivalence`` — the equivalence harness
  (:func:`dnnc.conformance.equivalence.compare_backends`) between the reference
  and the backend;
* ``test_structure`` — the structure level (same IR, weights round trip,
  the framework's own per-layer parameter counts);
* ``test_numeric`` — the numeric level (outputs, moving statistics, losses,
  gradients on two seeded batches, and a short optimizer trajectory).

``--dnnc-spec`` adds the structure and numeric levels on real specs (with
their data).  A case using an op the backend (or the reference) does not
declare in ``supported_ops`` is reported as **skipped** with the reason
"unsupported op X by backend Y" — never passed.  Without ``--dnnc-backend``
every test is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import CASES
from .pytest_plugin import BACKEND_OPTION, REFERENCE_OPTION, SPEC_OPTION

KIT_TRAJECTORY_STEPS = 5


def _option(config, name: str, default=None):
    try:
        return config.getoption(name)
    except ValueError:  # the plugin is not loaded
        return default


@pytest.fixture(scope="session")
def kit_backends(request):
    """(reference, backend) Backend objects, or a skip explaining how to run the kit."""
    name = _option(request.config, BACKEND_OPTION)
    if not name:
        pytest.skip(f"the dnnc conformance kit runs only with {BACKEND_OPTION} NAME "
                    f"(pytest --pyargs dnnc.conformance {BACKEND_OPTION} NAME)")
    reference = _option(request.config, REFERENCE_OPTION, "torch") or "torch"
    if name == reference:
        pytest.fail(f"{BACKEND_OPTION} and {REFERENCE_OPTION} are both {name!r}: choose another reference")
    from ..backends.base import BackendError
    from .options import resolve_backends

    try:
        ref, backend = resolve_backends([reference, name])
    except BackendError as exc:
        pytest.fail(f"the conformance kit cannot start: {exc}")
    return ref, backend


def _skip_unsupported(ir, *backends) -> None:
    from ..backends.base import unsupported_ops

    reasons = []
    for b in backends:
        reasons += [f"unsupported op {op} by backend {b.name}" for op in unsupported_ops(b, ir)]
    if reasons:
        pytest.skip("; ".join(reasons))


def _assert_level(result) -> None:
    from .results import FAIL, SKIP

    if result.error:
        pytest.fail(f"[{result.level}] {result.error}")
    failures = [c.message for c in result.checks if c.status == FAIL]
    assert not failures, "\n".join(failures)
    if result.verdict == SKIP:
        pytest.skip("; ".join(c.detail for c in result.checks if c.detail) or "nothing was compared")


def _kit_options():
    from .options import ConformOptions

    return ConformOptions(unsupported="skip", trajectory_steps=KIT_TRAJECTORY_STEPS)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_equivalence(case, kit_backends):
    from .equivalence import compare_backends

    ref, backend = kit_backends
    ir = case.ir()
    _skip_unsupported(ir, backend, ref)
    report = compare_backends(ir, ref, backend, batch_size=case.batch_size, seed=0)
    assert report.passed, report.render()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_structure(case, kit_backends):
    from ..compiler.initial_weights import initial_weights
    from .structure import structure_level

    ref, backend = kit_backends
    ir = case.ir()
    _skip_unsupported(ir, backend)
    _assert_level(structure_level(ir, [ref, backend], initial_weights(ir, 0), _kit_options()))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_numeric(case, kit_backends):
    from ..compiler.initial_weights import initial_weights
    from .numeric import numeric_level, synthetic_batches

    ref, backend = kit_backends
    ir = case.ir()
    _skip_unsupported(ir, backend, ref)
    options = _kit_options()
    batches = synthetic_batches(ir, 2, 0, case.batch_size)
    trajectory = synthetic_batches(ir, options.trajectory_steps, 1000, case.batch_size)
    result = numeric_level(ir, [ref, backend], initial_weights(ir, 0), batches, trajectory, options,
                           data_note="the harness's seeded synthetic batches")
    _assert_level(result)


def pytest_generate_tests(metafunc):
    if "kit_spec" in metafunc.fixturenames:
        specs = _option(metafunc.config, SPEC_OPTION, []) or []
        if specs:
            metafunc.parametrize("kit_spec", specs, ids=[Path(s).stem for s in specs])
        else:
            metafunc.parametrize("kit_spec", [pytest.param(None, marks=pytest.mark.skip(
                reason=f"no spec given (add {SPEC_OPTION} PATH to run the levels on a spec with its data)"))],
                ids=["no-spec"])


def test_spec_levels(kit_spec, kit_backends):
    """The structure and numeric levels of `dnnc conform` on a real spec and its data."""
    from ..runner.api import compile_with_overrides
    from .conform import run_conform

    ref, backend = kit_backends
    _, ir = compile_with_overrides(kit_spec, [])
    _skip_unsupported(ir, backend, ref)
    from .options import ConformOptions

    report = run_conform(ir, [ref.name, backend.name], ConformOptions(levels=("structure", "numeric"),
                                                                      unsupported="skip"), spec_path=kit_spec)
    for level in report.levels.values():
        _assert_level(level)
