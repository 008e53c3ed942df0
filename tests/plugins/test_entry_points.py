"""Third-party plugins through entry points: a fake distribution adds a backend and a layer type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dnnc.plugins.manager import build_registry

PLUGIN = textwrap.dedent('''
    from typing import Literal
    from pydantic import Field
    from dnnc.plugins import hookimpl, LayerType, NodeDraft, OpAttrs, OpDef
    from dnnc.spec_schema.layers import LayerBase


    class Square(LayerBase):
        """x²"""
        type: Literal["square"]
        scale: float = Field(1.0, gt=0)


    class SquareAttrs(OpAttrs):
        scale: float = Field(..., gt=0)


    SQUARE = OpDef("square", SquareAttrs, "y = scale·x² element-wise", lambda attrs, shapes: shapes[0])


    def lower_square(layer, shapes, defaults):
        return NodeDraft(op="square", attrs={"scale": layer.scale})


    class FakeBackend:
        name = "fake"
        supported_ops = frozenset({"input", "dense"})
        artifact_suffix = ".fake"

        def status(self):
            return True, "fake 1.0"

        def build(self, ir, weights):
            raise NotImplementedError

        def load(self, path):
            raise NotImplementedError


    @hookimpl
    def dnnc_backends():
        return [FakeBackend()]


    @hookimpl
    def dnnc_layer_types():
        return [LayerType(Square, lower_square, op=SQUARE)]


    from dnnc.plugins import CallbackType, DatasetType
    from dnnc.spec_schema.base import StrictModel


    class Parity(StrictModel):
        """Bits of a small integer; the label is their parity."""
        type: Literal["parity"]
        bits: int = Field(4, ge=2, le=10)


    def load_parity(dataset, *, base_dir=None, data_dir=None, download=True):
        import numpy as np
        from dnnc.runner.datasets import RawData, Split
        n = 2 ** dataset.bits
        x = ((np.arange(n)[:, None] >> np.arange(dataset.bits)) & 1).astype("float32")
        y = (x.sum(1) % 2).astype("float32")[:, None]
        split = Split(inputs={"input": x}, targets={"output": y})
        return RawData(train=split, test=split, target_kinds={"output": "value"})


    class Marker(StrictModel):
        """Writes a file when training ends."""
        type: Literal["marker"]
        path: str = "marker.txt"


    def make_marker(config, context):
        from dnnc.runner.callbacks import Callback

        class _Marker(Callback):
            def on_train_end(self, logs=None):
                (context.run_dir / config["path"]).write_text("epochs done")

        return _Marker()


    @hookimpl
    def dnnc_dataset_types():
        return [DatasetType(Parity, load_parity)]


    @hookimpl
    def dnnc_callback_types():
        return [CallbackType(Marker, make_marker)]
''')

BROKEN = "raise ImportError('this plugin is broken on purpose')\n"


@pytest.fixture
def fake_dist(tmp_path):
    """A directory on sys.path holding two fake distributions (one working, one broken)."""
    (tmp_path / "fake_dnnc_plugin.py").write_text(PLUGIN)
    (tmp_path / "broken_dnnc_plugin.py").write_text(BROKEN)
    for dist, module, ep in [("fake_dnnc_plugin", "fake_dnnc_plugin", "fake"),
                             ("broken_dnnc_plugin", "broken_dnnc_plugin", "broken")]:
        info = tmp_path / f"{dist}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[dnnc]\n{ep} = {module}\n")
    return tmp_path


def _run(fake_dist, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake_dist), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "dnnc", *args], capture_output=True, text=True, env=env)


def test_backend_and_layer_from_entry_point(fake_dist, tmp_path):
    out = _run(fake_dist, "backends", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    fake = next(b for b in data["backends"] if b["name"] == "fake")
    assert fake["available"] and fake["plugin"] == "fake"
    assert "square" not in fake["ops"] and "batch_norm" in fake["missing_core_ops"]
    # the broken plugin is reported by name and does not break the others
    assert any(f["plugin"] == "broken" and "broken on purpose" in f["error"] for f in data["plugin_errors"])
    assert {"keras", "torch"} <= {b["name"] for b in data["backends"]}

    schema = json.loads(_run(fake_dist, "schema").stdout)
    assert "Square" in schema["$defs"]

    spec = tmp_path / "sq.toml"
    spec.write_text('[model]\ninput_shape = [3]\nlayers = [ { type = "square", scale = 2.0 }, { type = "dense", units = 2 } ]\n')
    out = _run(fake_dist, "validate", str(spec))
    assert out.returncode == 0, out.stderr
    assert "square" in out.stdout
    spec.write_text('[model]\ninput_shape = [3]\nlayers = [ { type = "squar" } ]\n')
    out = _run(fake_dist, "validate", str(spec))
    assert out.returncode == 2 and "did you mean 'square'?" in out.stderr


def test_unsupported_op_fails_closed(fake_dist, monkeypatch):
    import importlib.metadata

    monkeypatch.syspath_prepend(str(fake_dist))
    importlib.invalidate_caches()
    registry = build_registry()
    assert "square" in registry.layers
    from dnnc.backends.base import BackendError, check_supported
    from dnnc.compiler.compile import compile_text

    ir = compile_text('[model]\ninput_shape = [3]\nlayers = [ { type = "square" }, { type = "dense", units = 2 } ]\n',
                      registry=registry)
    with pytest.raises(BackendError, match=r"backend 'fake' does not support op 'square' \(used by layer 'square'\)"):
        check_supported(registry.backends["fake"], ir)
    with pytest.raises(Exception, match="unknown backend 'jaxx'; installed: "):
        registry.backend("jaxx")


def test_plugin_dataset_and_callback_train_end_to_end(fake_dist, tmp_path):
    spec = tmp_path / "parity.toml"
    spec.write_text(
        '[data]\ndataset = { type = "parity", bits = 3 }\n'
        '[model]\ninput_shape = [3]\nlayers = [ { type = "dense", units = 8, activation = "tanh" }, { type = "dense", units = 1 } ]\n'
        '[training]\nloss = "mse"\nepochs = 2\nbatch_size = 4\n[[training.callbacks]]\ntype = "marker"\n'
    )
    out = _run(fake_dist, "train", str(spec), "--backend", "torch", "--out", str(tmp_path / "run"), "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "run" / "marker.txt").read_text() == "epochs done"
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["history"]["loss"]) == 2


def test_eject_refuses_a_plugin_op(fake_dist, monkeypatch):
    """An op without an eject emitter (a plugin's: every built-in op has both) is refused for either framework,
    never written as another model."""
    import importlib.metadata

    monkeypatch.syspath_prepend(str(fake_dist))
    importlib.invalidate_caches()
    registry = build_registry()
    from dnnc.compiler.compile import compile_text
    from dnnc.eject import EjectError, eject_source

    ir = compile_text('[model]\ninput_shape = [3]\nlayers = [ { type = "square" }, { type = "dense", units = 2 } ]\n',
                      registry=registry)
    for to in ("torch", "keras"):
        with pytest.raises(EjectError, match=rf"cannot eject op 'square' \(node 'square'\) to {to}: no emitter"):
            eject_source(ir, to, source="square.toml")
