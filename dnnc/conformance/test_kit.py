"""The dnnc conformance kit: check an installed backend against dnnc's float64 oracle.

    pytest --pyargs dnnc.conformance --dnnc-backend NAME [--dnnc-spec SPEC ...]

``test_case`` runs, for every case of :mod:`dnnc.conformance.cases` (one per
op, activation, initializer and loss), the structure level (same IR, weights
round trip, the framework's own per-layer parameter counts) and the numeric
level (outputs, moving statistics, losses and gradients on two seeded batches,
and every step of a 5-step optimizer trajectory whose last batch is partial,
each element within its float32 error bound of :mod:`dnnc.reference`): one
verdict per case, listing every failed check.  No second backend is needed:
the judge is the oracle.

``--dnnc-spec`` adds both levels on real specs (with their data).  A case
using an op the backend does not declare in ``supported_ops`` is reported as
**skipped** with the reason "unsupported op X by backend Y" — never passed.
Without ``--dnnc-backend`` every test is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import CASES
from .pytest_plugin import BACKEND_OPTION, SPEC_OPTION

KIT_TRAJECTORY_STEPS = 5
KIT_LEVELS = ("structure", "numeric")


def _option(config, name: str, default=None):
    try:
        return config.getoption(name)
    except ValueError:  # the plugin is not loaded
        return default


@pytest.fixture(scope="session")
def kit_backend(request):
    """The Backend under test, or a skip explaining how to run the kit."""
    name = _option(request.config, BACKEND_OPTION)
    if not name:
        pytest.skip(f"the dnnc conformance kit runs only with {BACKEND_OPTION} NAME "
                    f"(pytest --pyargs dnnc.conformance {BACKEND_OPTION} NAME)")
    from ..backends.base import BackendError
    from ..plugins.manager import get_registry

    try:
        return get_registry().available_backend(name)
    except BackendError as exc:
        pytest.fail(f"the conformance kit cannot start: {exc}")


def _skip_unsupported(ir, *backends) -> None:
    from ..backends.base import unsupported_ops

    reasons = []
    for b in backends:
        reasons += [f"unsupported op {op} by backend {b.name}" for op in unsupported_ops(b, ir)]
    if reasons:
        pytest.skip("; ".join(reasons))


def _verdict(levels) -> None:
    """One verdict for several levels: every failure of every level, or a skip when nothing was compared."""
    from .results import SKIP

    failures = []
    for result in levels:
        if result.error:
            failures.append(f"[{result.level}] {result.error}")
        failures += [c.message for c in result.failures]
    assert not failures, "\n".join(failures)
    skipped = [r for r in levels if r.verdict == SKIP]
    if skipped:
        pytest.skip("; ".join(c.detail for r in skipped for c in r.checks if c.detail) or "nothing was compared")


def _kit_options():
    from .options import ConformOptions

    return ConformOptions(levels=KIT_LEVELS, unsupported="skip", trajectory_steps=KIT_TRAJECTORY_STEPS)


def case_levels(case, backend) -> list:
    """The structure and numeric level results of one case for one Backend (what ``test_case`` judges)."""
    from ..compiler.initial_weights import initial_weights
    from .batches import synthetic_batches
    from .numeric import numeric_level
    from .structure import structure_level

    ir = case.ir()
    options, weights = _kit_options(), initial_weights(ir, 0)
    batches = synthetic_batches(ir, 2, 0, case.batch_size)
    trajectory = synthetic_batches(ir, options.trajectory_steps, 1000, case.batch_size, partial_last=True)
    return [structure_level(ir, [backend], weights, options),
            numeric_level(ir, [backend], weights, batches, trajectory, options, data_note="seeded synthetic batches")]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case, kit_backend):
    """The structure and numeric levels of one case: one verdict."""
    _skip_unsupported(case.ir(), kit_backend)
    _verdict(case_levels(case, kit_backend))


def pytest_generate_tests(metafunc):
    if "kit_spec" in metafunc.fixturenames:
        specs = _option(metafunc.config, SPEC_OPTION, []) or []
        if specs:
            metafunc.parametrize("kit_spec", specs, ids=[Path(s).stem for s in specs])
        else:
            metafunc.parametrize("kit_spec", [pytest.param(None, marks=pytest.mark.skip(
                reason=f"no spec given (add {SPEC_OPTION} PATH to run the levels on a spec with its data)"))],
                ids=["no-spec"])


def test_spec_levels(kit_spec, kit_backend):
    """The structure and numeric levels of `dnnc conform` on a real spec and its data: one verdict."""
    from ..runner.api import compile_with_overrides
    from .conform import conform_backends

    _, ir = compile_with_overrides(kit_spec, [])
    _skip_unsupported(ir, kit_backend)
    from .options import ConformOptions

    report = conform_backends(ir, [kit_backend], ConformOptions(levels=KIT_LEVELS, unsupported="skip"),
                              spec_path=kit_spec)
    _verdict(list(report.levels.values()))
