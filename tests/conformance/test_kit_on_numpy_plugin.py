"""The conformance kit, run as a third-party backend author would run it, against the numpy plugin."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from dnnc.conformance.cases import CASES
from support.paths import EXAMPLES


@pytest.mark.skipif(importlib.util.find_spec("dnnc_numpy") is None,
                    reason="dnnc-numpy is not installed (pip install -e examples/plugins/dnnc-numpy)")
def test_kit_passes_against_the_numpy_backend(tmp_path, data_dir):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "dnnc.conformance",
         "--dnnc-backend", "numpy", "--dnnc-spec", str(EXAMPLES / "mnist_784_64_10_sigmoid.toml")],
        capture_output=True, text=True, cwd=tmp_path, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    from dnnc.plugins.manager import get_registry

    supported = get_registry().backend("numpy").supported_ops
    unsupported = [c for c in CASES if not c.ir().ops <= supported]  # spatial and recurrent ops: skipped, never passed
    passed = int(re.search(r"(\d+) passed", run.stdout).group(1))
    skipped = int(re.search(r"(\d+) skipped", run.stdout).group(1))
    assert unsupported and passed == len(CASES) - len(unsupported) + 1  # one verdict per case, and the spec
    assert skipped == len(unsupported)
    assert "failed" not in run.stdout
