"""Two third-party distributions registering the same names: one outcome in every process, messages naming both.

The fake distributions are real ``*.dist-info`` directories on ``sys.path`` entries, so
``importlib.metadata`` finds them as it finds installed packages.  ``Alpha.DNNC_plugin`` (entry
point ``z``) sorts before ``zeta-dnnc-plugin`` (entry point ``a``) because distributions are ordered
by name before entry points.  Both register the backend ``dup`` and the layer, dataset and callback
types ``twin``/``twin_data``/``twin_cb`` (ambiguous: usable by neither); Alpha also registers the
built-in backend name ``torch`` and zeta the built-in layer type ``dense`` (refused: the built-ins stay).
``gamma-dnnc-plugin`` declares an entry point named ``z`` like Alpha's (not loaded: Alpha's comes first).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from dnnc.plugins.manager import build_registry, canonical_name, load_order

PLUGIN = textwrap.dedent('''
    from typing import Literal
    from dnnc.plugins import CallbackType, DatasetType, LayerType, hookimpl
    from dnnc.spec_schema.base import StrictModel
    from dnnc.spec_schema.layers import LayerBase

    WHO = {who!r}


    class Backend:
        artifact_suffix = "." + WHO
        supported_ops = frozenset({{"input", "dense"}})

        def __init__(self, name):
            self.name = name

        def status(self):
            return True, WHO + " 1.0"

        def build(self, ir, weights):
            raise NotImplementedError

        def load(self, path):
            raise NotImplementedError


    class Twin(LayerBase):
        type: Literal["twin"]


    class Dense(LayerBase):
        type: Literal["dense"]


    class TwinData(StrictModel):
        type: Literal["twin_data"]


    class TwinCallback(StrictModel):
        type: Literal["twin_cb"]


    def lower(layer, shapes, defaults):
        raise AssertionError(WHO + " lowered an ambiguous layer type")


    @hookimpl
    def dnnc_backends():
        return [Backend(name) for name in {backends!r}]


    @hookimpl
    def dnnc_layer_types():
        return [LayerType(model, lower) for model in ({layers})]


    @hookimpl
    def dnnc_dataset_types():
        return [DatasetType(TwinData)]


    @hookimpl
    def dnnc_callback_types():
        return [CallbackType(TwinCallback)]
''')

ALPHA = "Alpha.DNNC_plugin (entry point z = alpha_plugin)"
ZETA = "zeta-dnnc-plugin (entry point a = zeta_plugin)"
AMBIGUOUS = "is registered by " + ALPHA + " and " + ZETA + \
    ": the name is ambiguous, so dnnc uses none of them (uninstall all but one to use it)"


def _distribution(site, dist, module, entry_point, source):
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{canonical_name(dist).replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dnnc]\n{entry_point} = {module}\n")


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Two sys.path entries: Alpha in the first, zeta and gamma in the second."""
    root = tmp_path_factory.mktemp("sites")
    first, second = root / "first", root / "second"
    _distribution(first, "Alpha.DNNC_plugin", "alpha_plugin", "z",
                  PLUGIN.format(who="alpha", backends=["dup", "torch", "alpha_only"], layers="Twin,"))
    _distribution(second, "zeta-dnnc-plugin", "zeta_plugin", "a",
                  PLUGIN.format(who="zeta", backends=["zeta_only", "dup", "zeta_only"], layers="Twin, Dense"))
    _distribution(second, "gamma-dnnc-plugin", "gamma_plugin", "z", "raise ImportError('gamma must not be loaded')\n")
    return first, second


def _env(paths):
    path = os.pathsep.join([*map(str, paths), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, COLUMNS="400")


PROBE = """
import json
from dnnc.plugins.manager import build_registry
r = build_registry()
print(json.dumps({
    "plugins": list(r.plugins),
    "backends": {n: r.origins["dnnc_backends" + n] for n in r.backends},
    "layers": {n: r.origins["dnnc_layer_types" + n] for n in r.layers},
    "datasets": sorted(r.datasets), "callbacks": sorted(r.callbacks),
    "conflicts": [c.to_dict() for c in r.conflicts],
    "failures": [f.render() for f in r.failures],
}))
"""


def test_the_outcome_is_the_same_in_every_process(sites):
    first, second = sites
    outcomes = []
    for i in range(6):  # both sys.path orders, different hash seeds
        paths = (first, second) if i % 2 else (second, first)
        env = dict(_env(paths), PYTHONHASHSEED=str(i))
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        outcomes.append(out.stdout)
    assert len(set(outcomes)) == 1, outcomes
    outcome = json.loads(outcomes[0])

    third_party = [p for p in outcome["plugins"] if p in ("z", "a")]
    assert third_party == ["z", "a"]  # Alpha (entry point z) before zeta (a): by distribution first
    assert outcome["plugins"][0] == "dnnc-builtin"
    assert "dup" not in outcome["backends"] and "twin" not in outcome["layers"]
    assert outcome["backends"]["torch"] == "torch" and outcome["layers"]["dense"] == "dnnc-builtin"
    assert outcome["backends"]["alpha_only"] == "z" and outcome["backends"]["zeta_only"] == "a"
    assert "twin_data" not in outcome["datasets"] and "twin_cb" not in outcome["callbacks"]

    conflicts = {(c["kind"], c["name"]): c for c in outcome["conflicts"]}
    assert set(conflicts) == {("backend", "dup"), ("backend", "torch"), ("layer type", "twin"),
                              ("layer type", "dense"), ("dataset type", "twin_data"), ("callback type", "twin_cb")}
    for kind, name in [("backend", "dup"), ("layer type", "twin"), ("dataset type", "twin_data"),
                       ("callback type", "twin_cb")]:
        c = conflicts[kind, name]
        assert c["resolution"] == "ambiguous"
        assert c["message"] == f"{kind} {name!r} {AMBIGUOUS}"
        assert [(p["distribution"], p["entry_point"], p["value"]) for p in c["plugins"]] == [
            ("Alpha.DNNC_plugin", "z", "alpha_plugin"), ("zeta-dnnc-plugin", "a", "zeta_plugin")]
    torch = conflicts["backend", "torch"]
    assert torch["resolution"] == "built-in kept"
    assert torch["message"] == ("backend 'torch' is registered by dnnc (entry point torch = dnnc.backends.torch.plugin) "
                                f"and {ALPHA}: dnnc keeps its built-in backend and refuses the registration by "
                                "Alpha.DNNC_plugin")
    assert conflicts["layer type", "dense"]["message"] == (
        f"layer type 'dense' is registered by dnnc (built-in vocabulary dnnc.plugins.builtin) and {ZETA}: "
        "dnnc keeps its built-in layer type and refuses the registration by zeta-dnnc-plugin")

    failures = outcome["failures"]
    assert "plugin 'a' failed: dnnc_backends() returns backend 'zeta_only' twice; the first is kept" in failures
    assert ("plugin 'z' failed: gamma-dnnc-plugin (entry point z = gamma_plugin) is not loaded: "
            f"{ALPHA} already has this plugin name") in failures


def test_dnnc_backends_lists_the_conflicts(sites):
    env = _env(sites)
    out = subprocess.run([sys.executable, "-m", "dnnc", "backends", "--json"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    dup = next(c for c in data["conflicts"] if c["name"] == "dup")
    assert dup["message"] == f"backend 'dup' {AMBIGUOUS}"
    rows = {r["name"]: r for r in data["backends"]}
    assert "dup" not in rows
    assert (rows["alpha_only"]["plugin"], rows["alpha_only"]["distribution"]) == ("z", "Alpha.DNNC_plugin")
    assert (rows["torch"]["plugin"], rows["torch"]["distribution"]) == ("torch", "dnnc")

    out = subprocess.run([sys.executable, "-m", "dnnc", "backends"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"│ dup\s+│ ambiguous\s+│ registered by Alpha\.DNNC_plugin, zeta-dnnc-plugin", out.stdout), out.stdout
    assert f"conflict: backend 'dup' {AMBIGUOUS}" in out.stdout
    assert f"conflict: layer type 'twin' {AMBIGUOUS}" in out.stdout


def test_using_an_ambiguous_name_fails_naming_both(sites, tmp_path):
    env = _env(sites)
    spec = tmp_path / "twin.toml"
    spec.write_text('[model]\ninput_shape = [3]\nlayers = [ { type = "dense", units = 2 }, { type = "twin" } ]\n')
    out = subprocess.run([sys.executable, "-m", "dnnc", "validate", str(spec)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"model.layers[1]: layer type 'twin' {AMBIGUOUS}" in out.stderr, out.stderr
    assert "internal error" not in out.stderr

    spec.write_text('[model]\ninput_shape = [3]\nlayers = [ { type = "dense", units = 2 } ]\n')
    out = subprocess.run([sys.executable, "-m", "dnnc", "build", str(spec), "--backend", "dup", "-o",
                          str(tmp_path / "m.dup")], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"error: backend 'dup' {AMBIGUOUS}" in out.stderr, out.stderr


@pytest.fixture
def registry(sites, monkeypatch):
    for site in reversed(sites):
        monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return build_registry()


def test_registry_refuses_ambiguous_names_in_process(registry):
    from dnnc.backends.base import BackendError
    from dnnc.compiler.compile import compile_text
    from dnnc.compiler.errors import SpecError

    with pytest.raises(BackendError, match="^" + re.escape(f"backend 'dup' {AMBIGUOUS}") + "$"):
        registry.backend("dup")
    assert registry.backend("torch").__module__.startswith("dnnc.backends.torch")
    assert registry.origin("dnnc_backends", "alpha_only").describe() == ALPHA
    for table, where in [('[data]\ndataset = "twin_data"\n', "data.dataset"),
                         ('[training]\nloss = "mse"\ncallbacks = [ "twin_cb" ]\n', "training.callbacks[0]")]:
        text = table + '[model]\ninput_shape = [3]\nlayers = [ { type = "dense", units = 2 } ]\n'
        with pytest.raises(SpecError) as info:
            compile_text(text, registry=registry)
        kind = "dataset type 'twin_data'" if "data" in where else "callback type 'twin_cb'"
        assert f"{where}: {kind} {AMBIGUOUS}" in str(info.value)
    # the built-in dense is the one that lowers (zeta's Dense model would not accept `units`)
    ir = compile_text('[model]\ninput_shape = [3]\nlayers = [ { type = "dense", units = 2 } ]\n', registry=registry)
    assert ir.nodes[-1].op == "dense"


def test_load_order_is_by_distribution_then_entry_point(sites):
    eps = [ep for ep in importlib.metadata.distributions(path=[str(s) for s in sites])]
    points = [ep for dist in eps for ep in dist.entry_points if ep.group == "dnnc"]
    ordered = [(ep.dist.name, ep.name) for ep in load_order(points)]
    assert ordered == [("Alpha.DNNC_plugin", "z"), ("gamma-dnnc-plugin", "z"), ("zeta-dnnc-plugin", "a")]
    assert canonical_name("Alpha.DNNC_plugin") == "alpha-dnnc-plugin"


def test_a_run_whose_dataset_type_became_ambiguous_is_refused(registry, monkeypatch):
    """A run recorded before the second plugin was installed: loading its data names both plugins."""
    import dnnc.plugins.manager
    from dnnc.compiler.compile import compile_text
    from dnnc.runner.api import load_datasets
    from dnnc.runner.errors import RunnerError

    ir = compile_text('[data]\ndataset = "mnist"\n[model]\ninput_shape = [784]\n'
                      'layers = [ { type = "dense", units = 10 } ]\n', registry=registry)
    ir = ir.model_copy(update={"data": {**ir.data, "dataset": {"type": "twin_data"}}})
    monkeypatch.setattr(dnnc.plugins.manager, "get_registry", lambda: registry)
    with pytest.raises(RunnerError) as info:
        load_datasets(ir, base_dir=None)
    assert str(info.value) == (f"the data table of model 'model' is not valid with the installed plugins: "
                               f"data.dataset: dataset type 'twin_data' {AMBIGUOUS}")
