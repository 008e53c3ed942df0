"""Hostile specs: each file in tests/compiler/hostile/ is refused with exactly the error text in golden/.

Every case was once a crash ("internal error", exit 1) or a bad value that validated and then misbehaved
(issue 12).  The golden file holds the rendered issues, one per line, as `dnnc validate` prints them after
"error: ".  After a deliberate change of a message, regenerate the golden files with

    DNNC_UPDATE_GOLDEN=1 pytest tests/compiler/test_hostile_specs.py

and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dnnc
from dnnc.cli.app import app

HERE = Path(__file__).parent
CASES = sorted(p.name for p in (HERE / "hostile").iterdir() if p.suffix in (".toml", ".json"))
UPDATE = os.environ.get("DNNC_UPDATE_GOLDEN") == "1"


def _golden(name: str) -> Path:
    return HERE / "golden" / (name + ".txt")


def _rendered(name: str) -> str:
    with pytest.raises(dnnc.SpecError) as info:
        dnnc.compile_spec(name)
    return "".join(issue.render() + "\n" for issue in info.value.issues)


@pytest.mark.parametrize("name", CASES)
def test_hostile_spec_gives_the_golden_error(name, monkeypatch):
    monkeypatch.chdir(HERE / "hostile")  # the file name in the messages is the relative path given
    text = _rendered(name)
    golden = _golden(name)
    if UPDATE:
        golden.write_text(text)
    assert golden.is_file(), f"no golden file {golden}: run with DNNC_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text()


@pytest.mark.parametrize("name", CASES)
def test_cli_refuses_with_exit_2_and_the_same_text(name, monkeypatch):
    monkeypatch.chdir(HERE / "hostile")
    result = CliRunner().invoke(app, ["validate", name])
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    output = " ".join(result.output.split())
    for line in _golden(name).read_text().splitlines():
        assert " ".join(("error: " + line).split()) in output


def test_every_golden_file_has_its_case():
    assert sorted(p.stem for p in (HERE / "golden").glob("*.txt")) == CASES


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("nonfinal_")])
def test_the_same_mistake_in_the_last_layer_reads_the_same(name, tmp_path):
    """A lowering error in a non-final layer reads as it does when the failing layer is the last one."""
    golden = _golden(name).read_text().splitlines()
    failing = int(re.search(r"model\.layers\[(\d+)\]", golden[0]).group(1))
    lines = (HERE / "hostile" / name).read_text().splitlines()
    layer_lines = [i for i, line in enumerate(lines) if line.strip().startswith("{")]
    assert failing < len(layer_lines) - 1  # the case really is about a non-final layer
    cut = layer_lines[failing + 1:]
    shortened = tmp_path / name
    shortened.write_text("\n".join(line for i, line in enumerate(lines) if i not in cut) + "\n")
    with pytest.raises(dnnc.SpecError) as info:
        dnnc.compile_spec(shortened)
    assert [i.render().split(" ", 1)[1] for i in info.value.issues] == [line.split(" ", 1)[1] for line in golden]
