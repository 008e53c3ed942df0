"""`dnnc export` and `dnnc eject` on the command line: a real run directory, the printed check, the errors
(exit 1 naming the file, exit 2 for bad options, never a traceback)."""

from __future__ import annotations

import ast
import importlib.util

import numpy as np
import pytest
from typer.testing import CliRunner

from dnnc.cli.app import app
from support.ejected import EXTRA_SPECS
from support.paths import EXAMPLES

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

runner = CliRunner()


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    """One epoch of wide_and_deep on the torch backend: a run directory with test rows."""
    from dnnc.runner.api import train_spec

    out = tmp_path_factory.mktemp("runs") / "wide-and-deep"
    result = train_spec(EXAMPLES / "wide_and_deep.toml", backend="torch", epochs=1, out=out, progress="quiet", artifacts=False)
    return result.run_dir


def _clean(result):
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_export_of_a_run_is_checked_on_its_test_rows(torch_run, tmp_path):
    out = tmp_path / "wd.onnx"
    result = runner.invoke(app, ["export", str(torch_run), "--format", "onnx", "-o", str(out)])
    text = _clean(result)
    assert result.exit_code == 0, text
    assert "ONNX opset 18" in text and "input wide: float32 [batch, 5]" in text
    assert "agrees with the torch backend on the 400 test rows: max |Δ| = " in text
    measured = float(text.split("max |Δ| = ")[1].split()[0])
    assert 0 <= measured <= 1e-5
    assert out.is_file()


def test_export_with_the_other_backend(torch_run, tmp_path):
    pytest.importorskip("tf2onnx")
    result = runner.invoke(app, ["export", str(torch_run), "-o", str(tmp_path / "k.onnx"), "--backend", "keras",
                                 "--logits"])
    text = _clean(result)
    assert result.exit_code == 0, text
    assert "from the keras backend, logits" in text and "400 test rows" in text


@pytest.mark.parametrize("args, code, message", [
    (["{missing}", "-o", "{tmp}/m.onnx"], 1, "{missing} not found"),
    (["{tmp}", "-o", "{tmp}/m.onnx"], 1, "is not a dnnc run directory (no ir.json)"),
    (["{run}", "-o", "{tmp}/m.onnx", "--opset", "9"], 2, "--opset must be in 13…18 (received 9)"),
    (["{run}", "-o", "{tmp}/m.onnx", "--format", "tflite"], 2, "--format 'tflite' is not supported"),
    (["{run}", "-o", "{tmp}/m.onnx", "--backend", "numpy"], 1, "does not implement CompiledModel.export_onnx()"),
])
def test_export_errors(args, code, message, torch_run, tmp_path):
    values = {"missing": str(tmp_path / "nope"), "tmp": str(tmp_path), "run": str(torch_run)}
    result = runner.invoke(app, ["export", *[a.format(**values) for a in args]])
    text = _clean(result)
    assert result.exit_code == code, text
    assert message.format(**values) in text and "internal error" not in text


def test_export_without_onnxruntime_says_what_to_install(torch_run, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    result = runner.invoke(app, ["export", str(torch_run), "-o", str(tmp_path / "m.onnx")])
    text = _clean(result)
    assert result.exit_code == 1
    assert "needs onnx, onnxruntime; not installed: onnxruntime (pip install 'dnnc[onnx]')" in text
    assert not (tmp_path / "m.onnx").exists()


def test_eject_writes_a_module_that_imports_no_dnnc(tmp_path):
    out = tmp_path / "xor_torch.py"
    result = runner.invoke(app, ["eject", str(EXAMPLES / "xor.toml"), "--to", "torch", "-o", str(out)])
    assert result.exit_code == 0, result.output
    tree = ast.parse(out.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "dnnc" not in imported and {"torch", "numpy"} <= imported


def test_eject_with_the_weights_of_a_run(torch_run, tmp_path):
    out = tmp_path / "wd.py"
    result = runner.invoke(app, ["eject", str(EXAMPLES / "wide_and_deep.toml"), "--to", "torch", "-o", str(out),
                                 "--weights", str(torch_run)])
    assert result.exit_code == 0, result.output
    weights = str((torch_run / "weights.npz").resolve())
    assert f'WEIGHTS = "{weights}"' in out.read_text()
    spec = importlib.util.spec_from_file_location("ejected_wd_cli", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from dnnc.runner.api import load_run_model

    model, ir, _ = load_run_model(torch_run)
    x = {"wide": np.ones((2, 5), np.float32), "deep": np.ones((2, 6), np.float32)}
    got = module.predict(module.build_model(), x["wide"], x["deep"])
    want = model.forward(x)
    for name in ("main", "aux"):
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-6)


@pytest.mark.parametrize("args, code, message", [
    (["{spec}", "--to", "jax"], 2, "--to 'jax' is not supported (allowed: torch, keras)"),
    (["{spec}", "--to", "torch", "--weights", "{tmp}"], 1, "is not a dnnc run directory (no ir.json)"),
    (["{xor}", "--to", "torch", "--weights", "{run}"], 1, "does not hold the weights of model 'xor'"),
    (["{transfer}", "--to", "keras"], 1, "model.init_from copies weights from '../../runs/transfer/fashion-a' before "
                                         "training, which the ejected module does not do; eject with --weights"),
    (["{unfreeze}", "--to", "torch"], 1, "training.callbacks[0]: the unfreeze callback (two-phase fine-tuning) is "
                                         "not ejected yet"),
])
def test_eject_errors(args, code, message, torch_run, tmp_path):
    unfreeze = tmp_path / "unfreeze.toml"
    unfreeze.write_text((EXTRA_SPECS / "frozen_layers.toml").read_text()
                        + '\n[[training.callbacks]]\ntype = "unfreeze"\nafter_epochs = 1\n')
    values = {"spec": str(EXAMPLES / "wide_and_deep.toml"), "xor": str(EXAMPLES / "xor.toml"), "tmp": str(tmp_path),
              "run": str(torch_run), "transfer": str(EXAMPLES / "transfer" / "fashion_b_sandal_or_shirt.toml"),
              "unfreeze": str(unfreeze)}
    result = runner.invoke(app, ["eject", *[a.format(**values) for a in args]])
    text = _clean(result)
    assert result.exit_code == code, text
    assert message.format(**values) in text


def test_help_lists_export_and_eject():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "export" in result.output and "eject" in result.output
    for command in ("export", "eject"):
        assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_random_rows_are_described_as_what_they_are():
    """A token input gets uniform ids, not standard-normal values, and the message says so."""
    from dnnc.compiler.compile import compile_spec
    from dnnc.export.onnx_export import random_rows, random_rows_description
    from support.paths import EXAMPLES

    imdb = compile_spec(EXAMPLES / "imdb_bidirectional_lstm.toml")
    rows = random_rows(imdb)
    assert all(r.dtype.kind == "i" for r in rows.values())
    assert random_rows_description(imdb) == "64 random rows of uniform token ids"
    assert random_rows_description(compile_spec(EXAMPLES / "mnist_cnn.toml")) == "64 random standard-normal rows"


# --------------------------------------------------------------------------
# --format pt2: the torch.export program (dnnc train no longer writes it)
# --------------------------------------------------------------------------


def test_export_pt2_of_a_run_is_checked_and_reloads(torch_run, tmp_path):
    import torch

    from dnnc.runner.api import load_run_model

    assert not (torch_run / "model.pt2").exists()
    out = tmp_path / "wd.pt2"
    result = runner.invoke(app, ["export", str(torch_run), "--format", "pt2", "-o", str(out)])
    text = _clean(result)
    assert result.exit_code == 0, text
    assert f"wrote {out}: torch.export program of model 'wide-and-deep'" in text
    assert "agrees with the torch backend on the 400 test rows: max |Δ| = " in text
    assert 0 <= float(text.split("max |Δ| = ")[1].split()[0]) <= 1e-5
    model, ir, _ = load_run_model(torch_run)
    rng = np.random.default_rng(3)
    rows = {name: rng.normal(size=(7, *ir.node(name).shape)).astype(np.float32) for name in ir.inputs}
    program = torch.export.load(out).module()  # another batch size than the export's example
    got = program(*(torch.from_numpy(rows[name]) for name in ir.inputs))
    got = got if isinstance(got, (tuple, list)) else (got,)
    for output, value in zip(ir.outputs, got):
        np.testing.assert_allclose(value.detach().numpy(), model.forward(rows)[output.name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args, code, message", [
    (["{run}", "--format", "pt2", "-o", "{tmp}/m.onnx"], 2, "--format pt2 writes a .pt2 file (received --out"),
    (["{run}", "--format", "pt2", "-o", "{tmp}/m.pt2", "--backend", "keras"], 2,
     "--format pt2 is a torch.export program: it is written by the torch backend (received --backend keras)"),
    (["{run}", "--format", "pt2", "-o", "{tmp}/m.pt2", "--logits"], 2, "--logits is for --format onnx"),
    (["{tmp}", "--format", "pt2", "-o", "{tmp}/m.pt2"], 1, "is not a dnnc run directory (no ir.json)"),
])
def test_export_pt2_errors(args, code, message, torch_run, tmp_path):
    values = {"tmp": str(tmp_path), "run": str(torch_run)}
    result = runner.invoke(app, ["export", *[a.format(**values) for a in args]])
    text = _clean(result)
    assert result.exit_code == code, text
    assert message in text
    assert not (tmp_path / "m.pt2").exists()


def test_build_writes_the_pt2_program(tmp_path):
    out = tmp_path / "model.pt"
    result = runner.invoke(app, ["build", str(EXAMPLES / "wide_and_deep.toml"), "--backend", "torch", "-o", str(out)])
    text = _clean(result)
    assert result.exit_code == 0, text
    assert f"wrote {out}" in text and f"wrote {tmp_path / 'model.pt2'}" in text
    assert (tmp_path / "model.pt2").is_file()
