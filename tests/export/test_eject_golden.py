"""The ejected source of every example, for both frameworks, is exactly the golden file in golden/.

The golden files are the review copy of what `dnnc eject` writes: after a
deliberate change of the generators, regenerate them with

    DNNC_UPDATE_GOLDEN=1 pytest tests/export/test_eject_golden.py

and read the diff.  The generated modules are also checked to be valid Python
that imports only the framework, NumPy and the standard library, and to be
left unchanged by ``ruff format`` (the generators lay the code out themselves) with no name pyflakes
flags.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dnnc.eject import eject_source
from support.ejected import EXAMPLE_NAMES, example_ir, source_name

HERE = Path(__file__).parent
UPDATE = os.environ.get("DNNC_UPDATE_GOLDEN") == "1"
FRAMEWORKS = ("torch", "keras")
CASES = [(name, to) for name in EXAMPLE_NAMES for to in FRAMEWORKS]


def _golden(name: str, to: str) -> Path:
    return HERE / "golden" / f"{name}.{to}.py.golden"


def _source(name: str, to: str) -> str:
    return eject_source(example_ir(name), to, source=source_name(name))


@pytest.mark.parametrize("name, to", CASES)
def test_ejected_source_is_the_golden_file(name, to):
    text = _source(name, to)
    golden = _golden(name, to)
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), f"no golden file {golden}: run with DNNC_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text(), f"{golden} differs (DNNC_UPDATE_GOLDEN=1 rewrites it; review the diff)"


@pytest.mark.parametrize("name, to", CASES)
def test_ejected_source_imports_only_the_framework_numpy_and_the_standard_library(name, to):
    tree = ast.parse(_source(name, to))
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    allowed = {to, "numpy"} | set(sys.stdlib_module_names)
    assert modules <= allowed, modules - allowed
    assert to in modules and "dnnc" not in modules


def test_no_golden_file_is_left_over():
    expected = {_golden(name, to).name for name, to in CASES}
    assert {p.name for p in (HERE / "golden").glob("*.golden")} == expected


def _ruff() -> list[str] | None:
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    return [exe] if Path(exe).is_file() else None


def test_ejected_sources_are_formatted_and_name_nothing_undefined(tmp_path):
    """``ruff format --check`` leaves every golden file as it is, and ``ruff check --select F`` (pyflakes:
    undefined or unused names, imports) finds nothing (one call each for all of them)."""
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    for name, to in CASES:
        (tmp_path / f"{name}_{to}.py").write_text(_golden(name, to).read_text())
    result = subprocess.run([*ruff, "format", "--check", "--diff", "--line-length", "88", "--isolated", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    result = subprocess.run([*ruff, "check", "--isolated", "--select", "F,E9", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
