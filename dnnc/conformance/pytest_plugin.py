"""pytest plugin of the dnnc conformance kit (entry point ``pytest11: dnnc-conformance``).

It only registers two command-line options; everything else lives in
:mod:`dnnc.conformance.test_kit`, which runs only when ``--dnnc-backend`` is
given::

    pytest --pyargs dnnc.conformance --dnnc-backend numpy [--dnnc-reference torch] [--dnnc-spec my.toml]

Without the entry point installed (a source checkout that was not
reinstalled), load the plugin explicitly: ``pytest -p dnnc.conformance.pytest_plugin --pyargs dnnc.conformance …``.

This module must stay cheap: pytest imports it at start-up in every session
of an environment where dnnc is installed, so it imports nothing but pytest.
"""

from __future__ import annotations

BACKEND_OPTION = "--dnnc-backend"
REFERENCE_OPTION = "--dnnc-reference"
SPEC_OPTION = "--dnnc-spec"
DEFAULT_REFERENCE = "torch"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("dnnc-conformance", "dnnc conformance kit (pytest --pyargs dnnc.conformance)")
    group.addoption(BACKEND_OPTION, action="store", default=None, metavar="NAME",
                    help="Run the dnnc conformance kit against this installed backend (the kit does nothing without it).")
    group.addoption(REFERENCE_OPTION, action="store", default=DEFAULT_REFERENCE, metavar="NAME",
                    help=f"The backend the kit compares with (default: {DEFAULT_REFERENCE}).")
    group.addoption(SPEC_OPTION, action="append", default=[], metavar="PATH",
                    help="Also run the structure and numeric levels on this spec with its real data (repeatable).")
