"""`dnnc train` as a whole process (the console script's `main`): it ends without the interpreter's shut-down
once the run directory is complete (DNNC_FULL_EXIT=1 keeps it), with its output flushed and its exit code
kept; other commands end normally."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support.fakes import DIVERGING_SPEC, xor_spec

pytest.importorskip("torch")

# An atexit handler shows whether the interpreter's normal shut-down ran.
MAIN = ("import atexit, sys; atexit.register(lambda: print('ATEXIT-RAN', flush=True)); "
        "from dnnc.cli.app import main; sys.argv = ['dnnc', *sys.argv[1:]]; main()")


def dnnc(*args, full_exit=False, cwd):
    env = dict(os.environ)
    env.pop("DNNC_FULL_EXIT", None)
    if full_exit:
        env["DNNC_FULL_EXIT"] = "1"
    return subprocess.run([sys.executable, "-c", MAIN, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300, check=False)


@pytest.mark.parametrize("full_exit", [False, True])
def test_train_output_and_exit_code_with_and_without_the_quick_exit(tmp_path, full_exit):
    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec(repeat=4, epochs=2))
    out = dnnc("train", spec, "--backend", "torch", "--json", "--out", tmp_path / "run", full_exit=full_exit,
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and "test_loss" in lines[-1]  # two epochs and the test metrics, all flushed
    assert ("ATEXIT-RAN" in out.stdout) is full_exit
    assert f"run directory: {tmp_path / 'run'}" in out.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and "phases" in manifest
    assert not (tmp_path / "run" / "model.pt2").exists() and (tmp_path / "run" / "model.pt").is_file()


def test_a_failed_train_keeps_its_exit_code(tmp_path):
    spec = tmp_path / "diverging.toml"
    spec.write_text(DIVERGING_SPEC)
    out = dnnc("train", spec, "--backend", "torch", "-q", "--out", tmp_path / "run", cwd=tmp_path)
    assert out.returncode == 1 and "the training diverged" in out.stderr
    assert "ATEXIT-RAN" not in out.stdout  # the run directory was complete: the quick exit applies


def test_a_spec_error_and_other_commands_end_normally(tmp_path):
    out = dnnc("train", tmp_path / "missing.toml", "--backend", "torch", cwd=tmp_path)
    assert out.returncode == 2 and "ATEXIT-RAN" in out.stdout
    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec())
    out = dnnc("validate", spec, cwd=tmp_path)
    assert out.returncode == 0 and "ATEXIT-RAN" in out.stdout
