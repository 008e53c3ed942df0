"""Devices: `[training] device`, `--device`, the manifest's device, CPU-only plugin backends, resume on a device.

The fake backends here never touch hardware: ``FakeBackend`` (tests/support) has no ``resolve_device``, so
dnnc treats it as a CPU backend; ``GpuFakeBackend`` pretends this machine has one CUDA GPU, so the plumbing
of a non-CPU device (what dnnc passes to ``build``, what the manifest records) is tested without one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.backends.base import BackendError
from dnnc.backends.devices import (DeviceError, PlacedBackend, check_device_name, cuda_index, is_device_name,
                                   place, resolve_device, split_qualified, unavailable)
from dnnc.cli.app import app
from dnnc.compiler.errors import SpecError
from dnnc.compiler.ir import ModelIR
from dnnc.plugins.manager import get_registry
from dnnc.runner import compile_with_overrides, evaluate_run, predict, train_spec
from dnnc.runner.resume import resume_run
from support.fakes import FakeBackend, NumpyModel, ir_from_toml, use_fake_backend, xor_spec

runner = CliRunner()


class GpuFakeBackend(FakeBackend):
    """A FakeBackend that declares devices: this 'machine' has the CPU and one CUDA GPU."""

    name = "gpufake"
    artifact_suffix = ".gpufake"

    def __init__(self) -> None:
        super().__init__()
        self.devices_given: list[str | None] = []

    def resolve_device(self, requested: str) -> str:
        if requested in ("auto", "cuda", "cuda:0"):
            return "cuda:0"
        if requested == "cpu":
            return "cpu"
        raise unavailable(self.name, requested, ["cpu", "cuda:0"])

    def build(self, ir, weights, *, device=None):
        self.devices_given.append(device)
        model = super().build(ir, weights)
        model.device = device or self.resolve_device(ir.training.device)
        return model

    def load(self, path, *, device=None):
        self.devices_given.append(device)
        model = super().load(path)
        model.device = device
        return model


@pytest.fixture(autouse=True)
def fake_backend(monkeypatch):
    return use_fake_backend(monkeypatch)


@pytest.fixture
def gpu_backend(monkeypatch):
    backend = GpuFakeBackend()
    monkeypatch.setitem(get_registry().backends, "gpufake", backend)
    return backend


def write_spec(tmp_path, text: str):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def manifest(run_dir) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


# -- the spec and the IR ------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:3", "cuda:12", "mps"])
def test_device_names_are_accepted_and_lowered_into_the_ir(device):
    ir = ir_from_toml(xor_spec(training_extra=f'device = "{device}"'))
    assert ir.training.device == device
    assert ModelIR.from_json(ir.to_json()).training.device == device


def test_the_default_device_is_auto_and_an_old_ir_without_one_reads_as_auto():
    ir = ir_from_toml(xor_spec())
    assert ir.training.device == "auto"
    data = json.loads(ir.to_json())
    del data["training"]["device"]
    assert ModelIR.from_json(json.dumps(data)).training.device == "auto"


@pytest.mark.parametrize("bad, hint", [("gpu", "cuda"), ("gpu:1", "cuda:1"), ("CPU", "cpu"), ("cuda:", None),
                                       ("cuda:01", None), ("cuda:-1", None), ("tpu", None)])
def test_an_invalid_device_is_a_spec_error_with_location_received_and_allowed(bad, hint):
    with pytest.raises(SpecError) as info:
        ir_from_toml(xor_spec(training_extra=f'device = "{bad}"'))
    (issue,) = info.value.issues
    assert issue.path == ("training", "device")
    assert issue.received == bad
    assert "'cuda:N'" in issue.allowed and "'mps'" in issue.allowed
    if hint is not None:
        assert issue.hint == f"did you mean {hint!r}?"


def test_a_device_that_is_not_a_string_is_a_type_error():
    with pytest.raises(SpecError) as info:
        ir_from_toml(xor_spec(training_extra="device = 0"))
    assert info.value.issues[0].path == ("training", "device")


# -- the devices module -----------------------------------------------------------------------------

def test_device_grammar_helpers():
    assert [is_device_name(d) for d in ("cuda:7", "cuda:10", "mps", "cuda:07", " cpu", 3)] == [
        True, True, True, False, False, False]
    assert split_qualified("torch@cuda:1") == ("torch", "cuda:1")
    assert split_qualified("torch") == ("torch", None)
    with pytest.raises(ValueError, match=r"received 'gpu'; allowed: 'auto', 'cpu'"):
        split_qualified("torch@gpu")
    with pytest.raises(ValueError, match="--device: not a device"):
        check_device_name("cuda0")
    assert [cuda_index(d) for d in ("cuda", "cuda:3", "cpu", "mps")] == [0, 3, None, None]


def test_a_backend_without_resolve_device_runs_on_the_cpu_and_refuses_other_devices():
    backend = FakeBackend()
    assert resolve_device(backend, "auto") == resolve_device(backend, "cpu") == "cpu"
    for device in ("cuda", "cuda:1", "mps"):
        with pytest.raises(DeviceError) as info:
            resolve_device(backend, device)
        assert str(info.value) == (f"device {device!r} is not available to the fake backend (it runs on the CPU "
                                   "only); available here: cpu")
        assert isinstance(info.value, BackendError)  # an environment error: exit 1 in the CLI


def test_a_placed_backend_passes_the_device_only_to_backends_that_declare_devices(gpu_backend):
    ir = ir_from_toml(xor_spec())
    from dnnc.compiler.initial_weights import initial_weights

    weights = initial_weights(ir, 0)
    cpu_only = place(FakeBackend(), "cpu")
    assert (cpu_only.name, cpu_only.device, cpu_only.artifact_suffix) == ("fake", "cpu", ".fake")
    assert isinstance(cpu_only.build(ir, weights), NumpyModel)  # build(ir, weights): no device keyword
    placed = place(gpu_backend, "auto", label="gpufake@auto")
    assert isinstance(placed, PlacedBackend) and placed.name == "gpufake@auto"
    assert placed.record() == {"requested": "auto", "resolved": "cuda:0"}
    assert placed.build(ir, weights).device == "cuda:0"
    assert gpu_backend.devices_given == ["cuda:0"]
    assert place(placed, "cpu").device == "cpu"  # placing a placed backend places the backend itself
    with pytest.raises(DeviceError, match=r"device 'cuda:1' is not available to the gpufake backend; available "
                                          r"here: cpu, cuda:0"):
        place(gpu_backend, "cuda:1")


# -- the runner -------------------------------------------------------------------------------------

def test_the_manifest_records_the_requested_and_the_resolved_device(tmp_path):
    spec = write_spec(tmp_path, xor_spec())
    result = train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet")
    assert manifest(result.run_dir)["device"] == {"requested": "auto", "resolved": "cpu"}


def test_device_overrides_the_spec_and_is_recorded_in_the_ir_and_the_manifest(tmp_path, gpu_backend):
    spec = write_spec(tmp_path, xor_spec(training_extra='device = "cpu"'))
    result = train_spec(spec, backend="gpufake", out=tmp_path / "run", progress="quiet", device="cuda")
    assert manifest(result.run_dir)["device"] == {"requested": "cuda", "resolved": "cuda:0"}
    assert manifest(result.run_dir)["spec"]["overrides"] == ['training.device="cuda"']
    assert json.loads((result.run_dir / "ir.json").read_text())["training"]["device"] == "cuda"
    assert result.model.device == "cuda:0" and gpu_backend.devices_given == ["cuda:0"]
    # without --device, the spec's value
    again = train_spec(spec, backend="gpufake", out=tmp_path / "run2", progress="quiet")
    assert manifest(again.run_dir)["device"] == {"requested": "cpu", "resolved": "cpu"}


def test_the_same_numbers_with_device_cpu_as_with_auto_on_a_cpu_backend(tmp_path):
    spec = write_spec(tmp_path, xor_spec())
    a = train_spec(spec, backend="fake", out=tmp_path / "a", progress="quiet")
    b = train_spec(spec, backend="fake", out=tmp_path / "b", progress="quiet", device="cpu")
    assert a.test_metrics == b.test_metrics
    for key, value in a.model.get_weights().items():
        np.testing.assert_array_equal(value, b.model.get_weights()[key])


def test_an_unavailable_device_fails_before_anything_is_written(tmp_path):
    spec = write_spec(tmp_path, xor_spec())
    with pytest.raises(DeviceError, match="device 'cuda' is not available to the fake backend"):
        train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet", device="cuda")
    assert not (tmp_path / "run").exists()


def test_an_invalid_device_option_is_a_spec_error_naming_the_option(tmp_path):
    spec = write_spec(tmp_path, xor_spec())
    with pytest.raises(SpecError) as info:
        train_spec(spec, backend="fake", out=tmp_path / "run", progress="quiet", device="gpu")
    (issue,) = info.value.issues
    assert (issue.file, issue.path, issue.received) == ("--device", ("training", "device"), "gpu")
    with pytest.raises(SpecError):
        compile_with_overrides(spec, ['training.device="cuda:x"'])


def test_evaluate_predict_and_resume_take_a_device(tmp_path, gpu_backend):
    spec = write_spec(tmp_path, xor_spec(epochs=2, training_extra="checkpoint = { min_seconds = 0 }"))
    result = train_spec(spec, backend="gpufake", out=tmp_path / "run", progress="quiet", device="cpu")
    gpu_backend.devices_given.clear()
    evaluate_run(result.run_dir, device="cuda")
    predict(result.run_dir, _xor_inputs(tmp_path), device="cpu")
    evaluate_run(result.run_dir)  # the run's own training.device, cpu
    assert gpu_backend.devices_given == ["cuda:0", "cpu", "cpu"]
    with pytest.raises(DeviceError):
        evaluate_run(result.run_dir, device="mps")
    with pytest.raises(SpecError):
        predict(result.run_dir, _xor_inputs(tmp_path), device="gpu")

    resumed = resume_run(result.run_dir, epochs=3, progress="quiet", device="cuda:0")
    record = manifest(resumed.run_dir)
    assert record["device"] == {"requested": "cuda:0", "resolved": "cuda:0"}
    assert record["resumptions"][-1]["device"] == "cuda:0"
    assert record["resumptions"][-1]["previous_device"] == "cpu"


def _xor_inputs(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([[0, 0], [1, 1]], dtype=np.float32))
    return path


# -- the command line -------------------------------------------------------------------------------

def test_cli_an_unavailable_device_is_one_line_and_exit_1(tmp_path):
    spec = write_spec(tmp_path, xor_spec())
    result = runner.invoke(app, ["train", str(spec), "-b", "fake", "--device", "cuda:1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert line == ("error: device 'cuda:1' is not available to the fake backend (it runs on the CPU only); "
                    "available here: cpu")


def test_cli_an_invalid_device_is_exit_2_with_received_and_allowed(tmp_path):
    spec = write_spec(tmp_path, xor_spec())
    result = runner.invoke(app, ["train", str(spec), "-b", "fake", "--device", "gpu", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert "--device training.device: not a device (received 'gpu'; allowed 'auto', 'cpu', 'cuda', 'cuda:N'" \
        in " ".join(result.output.split())


def test_cli_device_on_train_evaluate_predict_and_resume(tmp_path, gpu_backend):
    spec = write_spec(tmp_path, xor_spec(epochs=2))
    run = tmp_path / "r"
    result = runner.invoke(app, ["train", str(spec), "-b", "gpufake", "--device", "cpu", "-q", "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert manifest(run)["device"] == {"requested": "cpu", "resolved": "cpu"}
    result = runner.invoke(app, ["evaluate", str(run), "--device", "cuda", "--json"])
    assert result.exit_code == 0, result.output
    assert gpu_backend.devices_given[-1] == "cuda:0"
    result = runner.invoke(app, ["predict", str(run), str(_xor_inputs(tmp_path)), "--device", "cuda:0", "--json"])
    assert result.exit_code == 0, result.output
    commands = (["evaluate", str(run)], ["predict", str(run), str(_xor_inputs(tmp_path))],
                ["resume", str(run), "--epochs", "3"])
    for command in commands:
        bad = runner.invoke(app, [*command, "--device", "cuda:x"])
        assert bad.exit_code == 2, (command, bad.output)
        assert "received 'cuda:x'" in bad.output
        missing = runner.invoke(app, [*command, "--device", "mps"])
        assert missing.exit_code == 1, (command, missing.output)
        assert "device 'mps' is not available to the gpufake backend" in missing.output
        assert "Traceback" not in missing.output


# -- the GPU check script ---------------------------------------------------------------------------

def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(_torch_cuda(), reason="this machine has a CUDA GPU: the script would measure")
def test_the_gpu_check_says_there_is_no_gpu_and_measures_nothing():
    import subprocess
    import sys

    from support.paths import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.strip().splitlines()
    assert line.startswith("no CUDA GPU on this machine (") and "nothing was measured" in line
    assert "s/epoch" not in out.stdout and "ratio" not in out.stdout


def test_the_checkpoint_digest_of_an_ir_does_not_depend_on_its_device():
    """A run continues on another device, and checkpoints written before the IR had a device still match."""
    import hashlib

    from dnnc.runner.checkpoint import ir_digest

    auto = ir_from_toml(xor_spec())
    cuda = ir_from_toml(xor_spec(training_extra='device = "cuda:1"'))
    assert auto.to_json() != cuda.to_json()
    assert ir_digest(auto) == ir_digest(cuda)
    data = json.loads(auto.to_json())
    del data["training"]["device"]  # the IR JSON of a dnnc without devices (or steps per call)
    del data["training"]["steps_per_execution"]
    del data["training"]["compile"]
    assert ir_digest(auto) == hashlib.sha256(json.dumps(data, indent=2, ensure_ascii=False).encode()).hexdigest()
    assert ir_digest(ir_from_toml(xor_spec(seed=1))) != ir_digest(auto)
    assert ir_digest(ir_from_toml(xor_spec(training_extra="steps_per_execution = 3"))) == ir_digest(auto)
    assert ir_digest(ir_from_toml(xor_spec(training_extra="compile = true"))) == ir_digest(auto)


def test_a_saved_model_file_loads_on_the_device_asked_for(tmp_path, gpu_backend):
    spec = write_spec(tmp_path, xor_spec(epochs=1, training_extra='device = "cuda"'))
    train_spec(spec, backend="gpufake", out=tmp_path / "run", progress="quiet")
    model_file = tmp_path / "run" / "model.gpufake"
    assert model_file.is_file()
    gpu_backend.devices_given.clear()
    evaluate_run(model_file)  # the IR's own device: the backend resolves it in load
    evaluate_run(model_file, device="cpu")
    assert gpu_backend.devices_given == [None, "cpu"]
    # the CPU-only fake backend loads the same file under its suffix, and refuses the GPU its IR asks for
    cpu_file = tmp_path / "run" / "other.fake"
    cpu_file.write_bytes(model_file.read_bytes())
    with pytest.raises(DeviceError, match="device 'cuda' is not available to the fake backend"):
        evaluate_run(cpu_file)
    assert set(evaluate_run(cpu_file, device="cpu")) == {"test_loss", "test_accuracy"}


def test_the_progress_and_the_log_name_a_device_other_than_the_cpu(tmp_path, gpu_backend):
    spec = write_spec(tmp_path, xor_spec(epochs=1))
    gpu = train_spec(spec, backend="gpufake", out=tmp_path / "gpu", progress="quiet")
    cpu = train_spec(spec, backend="gpufake", out=tmp_path / "cpu", progress="quiet", device="cpu")
    assert "training xor with fake on cuda:0: " in (gpu.run_dir / "train.log").read_text()
    assert "training xor with fake: " in (cpu.run_dir / "train.log").read_text()
