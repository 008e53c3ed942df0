"""`dnnc build` checks the framework's parameter counts with the structure level's checks."""

from __future__ import annotations

from typer.testing import CliRunner

from dnnc.cli.app import app
from support.fakes import FakeBackend, NumpyModel, xor_spec

runner = CliRunner()


class MiscountingModel(NumpyModel):
    def layer_param_counts(self):
        counts = super().layer_param_counts()
        counts["dense"] = (counts["dense"][0] + 1, 0)
        counts["extra"] = (3, 0)
        return counts


class MiscountingBackend(FakeBackend):
    name = "miscounting"

    def build(self, ir, weights):
        return MiscountingModel(ir, weights)


def _build(tmp_path, monkeypatch, backend):
    from dnnc.plugins.manager import get_registry

    monkeypatch.setitem(get_registry().backends, backend.name, backend)
    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec())
    return runner.invoke(app, ["build", str(spec), "--backend", backend.name, "-q", "-o",
                               str(tmp_path / f"m{backend.artifact_suffix}")])


def test_build_reports_every_layer_whose_count_differs(tmp_path, monkeypatch):
    result = _build(tmp_path, monkeypatch, MiscountingBackend())
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "backend 'miscounting' built a model whose parameter counts differ from the IR's" in text
    assert "dense: framework counts 25 trainable / 0 non-trainable, IR 24 / 0" in text
    assert "extra: the framework reports layers the IR does not have" in text
    assert "dense_1" not in text  # the layers that agree are not listed


def test_build_passes_when_the_counts_agree(tmp_path, monkeypatch):
    result = _build(tmp_path, monkeypatch, FakeBackend())
    assert result.exit_code == 0, result.output
    assert "parameter counts equal the IR's" in result.output
