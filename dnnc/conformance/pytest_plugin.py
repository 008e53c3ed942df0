"""pytest plugin of the dnnc conformance kit (entry point ``pytest11: dnnc-conformance``).

It only registers the kit's command-line options; everything else lives in
:mod:`dnnc.conformance.test_kit`, which runs only when ``--dnnc-backend`` is
given::

    pytest --pyargs dnnc.conformance --dnnc-backend numpy [--dnnc-spec my.toml]

Without the entry point installed (a source checkout that was not
reinstalled), load the plugin explicitly: ``pytest -p dnnc.conformance.pytest_plugin --pyargs dnnc.conformance …``.

This module must stay cheap: pytest imports it at start-up in every session
of an environment where dnnc is installed, so it imports nothing but pytest.
"""

from __future__ import annotations

BACKEND_OPTION = "--dnnc-backend"
SPEC_OPTION = "--dnnc-spec"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("dnnc-conformance", "dnnc conformance kit (pytest --pyargs dnnc.conformance)")
    group.addoption(BACKEND_OPTION, action="store", default=None, metavar="NAME",
                    help="Run the dnnc conformance kit against this installed backend (the kit does nothing without it); "
                         "it is judged against dnnc's float64 oracle, no other backend is needed.")
    group.addoption(SPEC_OPTION, action="append", default=[], metavar="PATH",
                    help="Also run the structure and numeric levels on this spec with its real data (repeatable).")
