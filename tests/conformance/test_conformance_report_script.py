"""benchmarks/conformance_report.py renders a training-level report (sequential seeds, drift, cost) and merges the
example's separate runs (structure + numeric, training) into one verdict."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from dnnc.conformance.conform import load_datasets
from dnnc.conformance.options import ConformOptions
from dnnc.conformance.results import ConformReport, LevelResult
from dnnc.conformance.training import training_level
from support.fakes import FakeBackend, ir_from_toml, xor_spec

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("conformance_report", ROOT / "benchmarks" / "conformance_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_merges_the_runs_of_an_example_and_renders_the_training_level(tmp_path):
    script = _script()
    ir = ir_from_toml(xor_spec(repeat=16, epochs=2), "xor")
    twin = FakeBackend()
    twin.name = "twin"
    result, info = training_level(ir, [FakeBackend(), twin], load_datasets(ir),
                                  ConformOptions(seeds=(0, 1), max_seeds=3, drift_epochs=1))
    training = ConformReport("examples/xor.toml", "xor", ["fake", "twin"], levels={"training": result},
                             backend_info=info).to_dict()
    checks = ConformReport("examples/xor.toml", "xor", ["fake", "twin"],
                           levels={"structure": LevelResult("structure", error="a planted error")}).to_dict()
    work = tmp_path / "work"
    work.mkdir()
    (work / "xor.json").write_text(json.dumps(checks))
    (work / "xor.training.json").write_text(json.dumps(training))
    (work / "xor.training.meta.json").write_text(json.dumps({"seconds": 90.0}))
    item = {"example": "xor", "spec": "examples/xor.toml", "dataset": "xor", "training": True, "level": "all",
            "runs": [{"file": "xor"}, {"file": "xor.training"}]}

    merged = script.load_report(work, item)
    assert list(merged["levels"]) == ["structure", "training"]
    # a level that could not run (the planted error) leaves the example NOT JUDGED, though its training level passed
    assert merged["verdict"] == "NOT JUDGED" and merged["backends"]["twin"]["test_accuracy"]["n"] == 2

    args = argparse.Namespace(work_dir=work, out=tmp_path / "docs" / "conformance.md", backends="fake,twin",
                              seeds=None, max_seeds=None)
    text = script.render(args, [item])
    assert "| xor | xor | structure, training | **NOT JUDGED** | 2 |" in text
    assert "### xor — PASS" in text and "Cost: 4 training runs and 6 drift runs" in text
    assert "| twin | weights |" in text and "Exit status: 0 PASS" in text and "the runs took 2 min" in text
    assert "## Known limits" in text


def test_an_inconclusive_example_gets_its_measured_reason():
    script = _script()
    level = {"drift": [{"control": "k (1 ulp)", "curves": {"t": {"weights": [1e-7, 0.2]}, "k (1 ulp)": {"weights": [1e-7, 0.1]}}},
                       {"control": "k (1 ulp)", "curves": {"t": {"weights": [1e-7, 0.3]}, "k (1 ulp)": {"weights": [1e-7, 0.2]}}}]}
    c = {"backend": "t", "std_diff_pp": 0.61, "seeds": 20, "low_pp": -0.9, "high_pp": 0.3, "diff_pp": -0.3}
    text = script.inconclusive_reason(level, c)
    assert "spread 0.61 pp" in text and "±0.60 pp wide around -0.30 pp" in text
    assert "weights are 0.3 apart" in text and "control's 0.2" in text


def test_an_example_whose_data_is_missing_is_not_run_rather_than_failed(tmp_path):
    script = _script()
    error = "the data could not be loaded: California housing (california_housing) was not found.\nPlaces searched"
    checks = ConformReport("examples/h.toml", "h", ["fake", "twin"],
                           levels={"structure": LevelResult("structure"),
                                   "numeric": LevelResult("numeric", error=error)}).to_dict()
    checks["failures"] = [f"[numeric] {error}"]
    work = tmp_path / "work"
    work.mkdir()
    (work / "h.json").write_text(json.dumps(checks))
    (work / "h.meta.json").write_text(json.dumps({"seconds": 9.5, "verdict": "FAIL", "finished": "2026-12-02T01:38:01",
                                                  "commit": "abc1234"}))
    item = {"example": "h", "spec": "examples/h.toml", "dataset": "california_housing", "training": False,
            "level": "structure,numeric", "runs": [{"file": "h"}]}
    merged = script.load_report(work, item)
    assert merged["verdict"] == script.NO_DATA and merged["failures"] == []
    args = argparse.Namespace(work_dir=work, out=tmp_path / "conformance.md", backends="fake,twin", seeds=None,
                              max_seeds=None)
    text = script.render(args, [item])
    assert f"| h | california_housing | structure, numeric | **{script.NO_DATA}** |" in text
    assert "### Failures" not in text
    assert "| h | 2026-12-02T01:38:01 | abc1234 | FAIL | 10 |" in text  # the provenance of the saved run


def test_an_example_whose_training_level_was_not_run_says_so(tmp_path):
    script = _script()
    checks = ConformReport("examples/m.toml", "m", ["fake", "twin"],
                           levels={"structure": LevelResult("structure"), "numeric": LevelResult("numeric")}).to_dict()
    work = tmp_path / "work"
    work.mkdir()
    (work / "m.json").write_text(json.dumps(checks))
    item = {"example": "m", "spec": "examples/m.toml", "dataset": "mnist", "training": True, "level": "all",
            "runs": [{"file": "m"}, {"file": "m.training"}]}
    args = argparse.Namespace(work_dir=work, out=tmp_path / "conformance.md", backends="fake,twin", seeds=None,
                              max_seeds=None)
    text = script.render(args, [item])
    row = next(line for line in text.splitlines() if line.startswith("| m | mnist |"))
    assert row.startswith("| m | mnist | structure, numeric | **") and "(training level not run for this report) |" in row


def test_the_compiled_row_runs_torch_compiled_against_the_uncompiled_keras_reference(tmp_path, monkeypatch):
    """The `<example>.compiled` item passes --set training.compile=true and DNNC_KERAS_JIT_COMPILE=0 to its
    `dnnc conform` (a stand-in command records both), and records the oneDNN setting with the run."""
    script = _script()
    args = argparse.Namespace(only=["mnist_64_bn_dropout.compiled"], no_training=False, backends="keras,torch",
                              seeds=None, max_seeds=None, work_dir=tmp_path, force=False, force_part=None,
                              data_dir=None, verbose=False)
    (item,) = script.plan(args)
    assert item["example"] == "mnist_64_bn_dropout.compiled" and item["level"] == "training"
    (run,) = item["runs"]
    fake = tmp_path / "fake_conform.py"
    fake.write_text("import json, os, sys\n"
                    "report = sys.argv[sys.argv.index('--report') + 1]\n"
                    "json.dump({'verdict': 'PASS', 'argv': sys.argv[1:], "
                    "'jit': os.environ.get('DNNC_KERAS_JIT_COMPILE')}, open(report, 'w'))\n")
    monkeypatch.setenv("DNNC_CONFORM_CMD", f"{script.sys.executable} {fake}")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    script.run_item(run, args, script.conform_command(), 1, 1)
    recorded = json.loads((tmp_path / "mnist_64_bn_dropout.compiled.training.json").read_text())
    argv = recorded["argv"]
    assert argv[:2] == ["conform", "examples/mnist_64_bn_dropout.toml"] and "--chart" in argv
    assert argv[argv.index("--set") + 1] == "training.compile=true" and recorded["jit"] == "0"
    meta = json.loads((tmp_path / "mnist_64_bn_dropout.compiled.training.meta.json").read_text())
    assert meta["settings"]["extra"] == ["--set", "training.compile=true"]
    assert meta["settings"]["env"] == {"DNNC_KERAS_JIT_COMPILE": "0"} and meta["onednn"] == "off"
    assert "oneDNN off" in script.conditions_of({**meta, "threads": {}}) and meta["verdict"] == "PASS"
