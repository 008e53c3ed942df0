"""`dnnc conform` with device-qualified backends: ``torch@cpu,torch@cuda`` compares like two backends.

This machine has only the CPU, so the plumbing is tested with the CPU on both sides (which must PASS at the
numeric level) and with the refusal of a device that is not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnnc.backends.devices import DeviceError
from dnnc.compiler.compile import compile_spec
from dnnc.conformance.conform import run_conform
from dnnc.conformance.options import ConformOptions, resolve_backends
from support.cli import conform_cli

ROOT = Path(__file__).resolve().parents[2]
XOR = ROOT / "examples" / "xor.toml"


run_cli = conform_cli


def available(name: str) -> bool:
    from dnnc.plugins.manager import get_registry

    backend = get_registry().backends.get(name)
    return backend is not None and backend.status()[0]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


needs_torch = pytest.mark.skipif(not available("torch"), reason="needs the torch backend")


@needs_torch
def test_resolve_backends_places_each_name_and_labels_qualified_ones():
    ir = compile_spec(XOR)
    a, b = resolve_backends(["torch@cpu", "torch"], ir)
    assert (a.name, a.requested, a.device) == ("torch@cpu", "cpu", "cpu")
    assert (b.name, b.requested) == ("torch", "auto")  # the spec's training.device
    (c, d) = resolve_backends(["torch", "torch@auto"], ir, device="cpu")  # --device: the unqualified ones
    assert (c.name, c.requested, d.name, d.requested) == ("torch", "cpu", "torch@auto", "auto")
    with pytest.raises(Exception, match="listed twice"):
        resolve_backends(["torch@cpu", "torch@cpu"], ir)


@needs_torch
def test_the_same_backend_on_the_cpu_twice_passes_the_numeric_level(tmp_path):
    report = run_conform(compile_spec(XOR), ["torch@cpu", "torch"], ConformOptions(levels=("structure", "numeric")),
                         spec_path=XOR)
    assert report.verdict == "PASS", report.to_dict()
    assert report.backends == ["torch@cpu", "torch"]
    numeric = report.levels["numeric"]
    assert {c.backend for c in numeric.checks} == {"torch@cpu", "torch"}
    by_backend = {}
    for c in numeric.checks:
        by_backend.setdefault(c.backend, []).append((c.name, c.target, c.error))
    assert by_backend["torch@cpu"] == by_backend["torch"]  # one device, one set of numbers
    assert report.backend_info["torch@cpu"]["device"] == "cpu"


@needs_torch
def test_cli_device_qualified_backends_and_the_report(tmp_path):
    out = tmp_path / "report.json"
    result = run_cli(XOR, "--backends", "torch@cpu,torch", "--device", "cpu", "--level", "numeric",
                     "--trajectory-steps", "4", "--report", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["verdict"] == "PASS" and report["reference"] == "torch@cpu"
    assert {c["backend"] for c in report["levels"]["numeric"]["checks"]} == {"torch@cpu", "torch"}


@needs_torch
@pytest.mark.skipif(_cuda() if available("torch") else False, reason="this machine has a CUDA GPU")
def test_cli_refuses_a_device_that_is_not_here_in_one_line():
    result = run_cli(XOR, "--backends", "torch@cpu,torch@cuda", "--level", "numeric")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert line.startswith("error: device 'cuda' is not available to the torch backend (")
    assert line.endswith("available here: cpu")
    with pytest.raises(DeviceError):
        run_conform(compile_spec(XOR), ["torch", "torch@cuda:1"], ConformOptions(levels=("structure",)))


def test_cli_an_invalid_device_is_a_usage_error():
    result = run_cli(XOR, "--backends", "torch@cpu,torch@gpu", "--level", "structure")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "--backends 'torch@gpu': not a device (received 'gpu'; allowed: 'auto', 'cpu', 'cuda'" in text
    result = run_cli(XOR, "--backends", "torch,keras", "--device", "cuda:x", "--level", "structure")
    assert result.exit_code == 2, result.output
    assert "received 'cuda:x'" in result.output


@pytest.mark.skipif(not available("numpy"), reason="dnnc-numpy is not installed")
def test_a_cpu_only_plugin_accepts_cpu_and_auto_and_refuses_other_devices():
    ir = compile_spec(XOR)
    report = run_conform(ir, ["numpy@cpu", "numpy@auto"], ConformOptions(levels=("structure",)))
    assert report.verdict == "PASS"
    with pytest.raises(DeviceError, match=r"device 'cuda' is not available to the numpy backend \(it runs on the "
                                          r"CPU only\); available here: cpu"):
        resolve_backends(["numpy", "numpy@cuda"], ir)
    result = run_cli(XOR, "--backends", "numpy,numpy@mps", "--level", "structure")
    assert result.exit_code == 1 and "device 'mps' is not available to the numpy backend" in result.output
