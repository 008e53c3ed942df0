"""`dnnc conform`: the levels, the statistics, the report, the CLI and the kit's plumbing."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dnnc.compiler.compile import compile_spec
from dnnc.conformance.results import FAIL, INCONCLUSIVE, PASS, SKIP, Check, ConformReport, LevelResult
from dnnc.conformance.stats import betainc, paired_interval, summarize, t_cdf, t_ppf, welch_df, welch_interval
from support.cli import conform_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SIGMOID = EXAMPLES / "mnist_784_64_10_sigmoid.toml"


run_cli = conform_cli


def available(name: str) -> bool:
    from dnnc.plugins.manager import get_registry

    backend = get_registry().backends.get(name)
    return backend is not None and backend.status()[0]


needs_both = pytest.mark.skipif(not (available("keras") and available("torch")),
                                reason="needs the keras and torch backends")


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("p, df, expected", [
    (0.975, 1, 12.706204736), (0.975, 2, 4.302652730), (0.975, 3, 3.182446305), (0.975, 4, 2.776445105),
    (0.975, 10, 2.228138852), (0.975, 30, 2.042272456), (0.95, 5, 2.015048373), (0.995, 4, 4.604094871),
    (0.9, 7, 1.414923928), (0.975, math.inf, 1.959963985),
])
def test_t_quantiles_match_published_tables(p, df, expected):
    assert t_ppf(p, df) == pytest.approx(expected, abs=1e-8)
    assert t_ppf(1 - p, df) == pytest.approx(-expected, abs=1e-8)
    assert t_cdf(t_ppf(p, df), df) == pytest.approx(p, abs=1e-12)


def test_t_distribution_basics():
    assert t_ppf(0.5, 3.7) == 0.0
    # df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/π
    for t in (-3.0, -0.2, 0.7, 5.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    # I_x(1, 1) = x; I_x(a, b) = 1 − I_{1−x}(b, a)
    assert betainc(1, 1, 0.3) == pytest.approx(0.3, abs=1e-14)
    assert betainc(2.5, 0.5, 0.8) == pytest.approx(1 - betainc(0.5, 2.5, 0.2), abs=1e-14)
    # non-integer df lies between its neighbours
    assert t_ppf(0.975, 3) > t_ppf(0.975, 3.5) > t_ppf(0.975, 4)
    with pytest.raises(ValueError):
        t_ppf(1.0, 3)


def test_welch_interval_known_values():
    # two seeds each, equal variances: df = 2, half-width t(0.975, 2)·sqrt(5e-5) = 4.30265273·0.00707107
    iv = welch_interval([0.97, 0.98], [0.96, 0.97], 0.95)
    assert iv.method == "welch"
    assert iv.diff == pytest.approx(0.01, abs=1e-12)
    assert iv.df == pytest.approx(2.0, abs=1e-12)
    assert iv.se == pytest.approx(math.sqrt(5e-5), rel=1e-12)
    assert iv.high - iv.diff == pytest.approx(4.302652730 * 0.0070710678, abs=1e-8)  # 0.03042435
    assert iv.low == pytest.approx(-0.020424349, abs=1e-8)
    # unequal sizes and variances: Welch–Satterthwaite df = (0.41667 + 0.0625)² / (0.41667²/3 + 0.0625²/1) = 3.7167
    iv = welch_interval([1, 2, 3, 4], [2, 2.5], 0.95)
    assert welch_df(5 / 3, 4, 0.125, 2) == pytest.approx(3.71669, abs=1e-4)
    assert iv.df == pytest.approx(3.71669, abs=1e-4)
    assert iv.diff == pytest.approx(0.25)
    assert iv.high - iv.diff == pytest.approx(t_ppf(0.975, iv.df) * math.sqrt(5 / 12 + 0.0625), rel=1e-12)
    assert iv.within(3.0) and not iv.within(1.0)


def test_paired_interval_known_values():
    # d = (0.1, 0.3, 0.2): mean 0.2, s_d 0.1, se 0.1/√3, df 2 → half-width 4.30265273·0.0577350 = 0.2484138
    iv = paired_interval([1.1, 2.3, 3.2], [1.0, 2.0, 3.0])
    assert iv.method == "paired" and iv.df == 2.0
    assert iv.diff == pytest.approx(0.2) and iv.high - iv.diff == pytest.approx(0.2484138, abs=1e-6)
    same = paired_interval([0.93, 0.94, 0.92], [0.93, 0.94, 0.92])
    assert (same.method, same.low, same.high) == ("exact", 0.0, 0.0)
    # the Welch interval of the same identical samples is as wide as the seed-to-seed spread
    welch = welch_interval([0.93, 0.94, 0.92], [0.93, 0.94, 0.92])
    assert welch.high == pytest.approx(t_ppf(0.975, 4) * 0.01 * math.sqrt(2 / 3))
    with pytest.raises(ValueError):
        paired_interval([1.0], [1.0, 2.0])


def test_welch_interval_degenerate_cases():
    exact = welch_interval([0.9, 0.9], [0.9, 0.9])
    assert (exact.method, exact.low, exact.high) == ("exact", 0.0, 0.0)
    point = welch_interval([0.91], [0.9])
    assert point.method == "point" and point.low == point.high == pytest.approx(0.01)
    s = summarize([0.1, 0.2, 0.6])
    assert s.mean == pytest.approx(0.3) and s.std == pytest.approx(math.sqrt(0.07))


# ---------------------------------------------------------------------------
# results and the JSON report
# ---------------------------------------------------------------------------

def test_check_message_names_level_target_values_and_tolerance():
    c = Check("numeric", "inference output", "torch", "keras", FAIL, "dense_1[3, 7]", 0.101, 0.1, 9.1e-4, 1e-5,
              "max|Δ|/max(1, max|ref|)", batch=2)
    assert c.message == ("[numeric] torch vs keras: inference output of dense_1[3, 7] on batch 2 differs: "
                         "torch 0.101, keras 0.1; max|Δ|/max(1, max|ref|) 0.00091 > tolerance 1e-05")
    report = ConformReport("s.toml", "m", ["keras", "torch"], levels={"numeric": LevelResult("numeric", [c])})
    d = report.to_dict()
    assert d["verdict"] == FAIL and d["levels"]["numeric"]["verdict"] == FAIL
    assert d["failures"] == [c.message]
    json.dumps(d, allow_nan=False)
    skipped = LevelResult("training", [Check("training", "supported ops", "numpy", "keras", SKIP, detail="x")])
    assert skipped.verdict == SKIP
    assert ConformReport("s", "m", ["a", "b"], levels={"training": skipped}).verdict == FAIL


# ---------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------

@needs_both
def test_structure_and_numeric_pass_on_the_sigmoid_network(data_dir, tmp_path):
    backends = "keras,torch" + (",numpy" if available("numpy") else "")
    out = tmp_path / "report.json"
    md = tmp_path / "report.md"
    result = run_cli(SIGMOID, "--backends", backends, "--level", "structure,numeric", "--data-dir", data_dir,
                     "--report", out, "--markdown", md)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["verdict"] == "PASS"
    assert report["reference"] == "keras"
    assert set(report["levels"]) == {"structure", "numeric"}
    assert set(report["backends"]) == set(backends.split(","))
    structure = report["levels"]["structure"]
    assert structure["verdict"] == "PASS"
    counts = {(c["backend"], c["target"]): c["value"] for c in structure["checks"] if c["name"] == "parameter count"}
    assert counts[("torch", "dense")] == [50240, 0] and counts[("keras", "dense_1")] == [650, 0]
    numeric = report["levels"]["numeric"]
    names = {c["name"] for c in numeric["checks"]}
    assert {"inference output", "training-mode output", "loss", "gradient", "trajectory loss",
            "trajectory weights"} <= names
    grads = [c for c in numeric["checks"] if c["name"] == "gradient" and c["backend"] == "torch"]
    assert len(grads) == 2 * 4  # two batches × every trainable parameter
    assert {c["backend"] for c in numeric["checks"]} == set(backends.split(","))  # keras is judged too
    assert all(c["reference"] == "oracle" and c["tolerance"] == 1.0 for c in numeric["checks"] if c["error"] is not None)
    worst = max(c["error"] for c in numeric["checks"] if c["error"] is not None)
    assert worst < 1.0  # |Δ| in units of each element's float32 bound
    steps = [c["step"] for c in numeric["checks"] if c["name"] == "trajectory loss"]
    assert steps and all(1 <= s <= 24 for s in steps)
    assert "rows" in numeric["data"] and numeric["trajectory_steps"] == 24
    assert "| torch | gradient | 8 |" in md.read_text()


@needs_both
def test_a_broken_backend_fails_the_numeric_level(data_dir, tmp_path, monkeypatch):
    from dnnc.backends.torch.model import TorchModel

    original = TorchModel.forward

    def off_by_1e3(self, inputs, **kwargs):
        return {k: v + np.float32(1e-3) for k, v in original(self, inputs, **kwargs).items()}

    monkeypatch.setattr(TorchModel, "forward", off_by_1e3)
    out = tmp_path / "report.json"
    result = run_cli(SIGMOID, "--backends", "keras,torch", "--level", "numeric", "--trajectory-steps", "2",
                     "--data-dir", data_dir, "--report", out)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "[numeric] torch vs oracle: inference output of dense_1[" in text
    assert "> tolerance 1;" in text
    report = json.loads(out.read_text())
    assert report["verdict"] == "FAIL" and report["levels"]["numeric"]["verdict"] == "FAIL"
    failed = [c for c in report["levels"]["numeric"]["checks"] if c["status"] == "FAIL"]
    assert {c["name"] for c in failed} == {"inference output", "training-mode output"}
    assert {c["backend"] for c in failed} == {"torch"}  # keras, judged by the same oracle, passes
    for c in failed:
        assert c["target"].startswith("dense_1[") and c["tolerance"] == 1.0
        assert c["value"] - c["expected"] == pytest.approx(1e-3, abs=2e-6)
        assert c["error"] > 10  # 1e-3 is far outside every logit's float32 bound
    # gradients and the trajectory do not go through forward(): they still agree
    assert all(c["status"] == "PASS" for c in report["levels"]["numeric"]["checks"] if c["name"] == "gradient")


@needs_both
def test_training_level_on_xor(tmp_path):
    out, chart = tmp_path / "xor.json", tmp_path / "xor.png"
    result = run_cli(EXAMPLES / "xor.toml", "--level", "training", "--epochs", "40", "--seeds", "2",
                     "--report", out, "--chart", chart, "--tolerance", "0.5")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["verdict"] == "PASS"
    level = report["levels"]["training"]
    assert level["seeds"] == [0, 1] and level["tolerance_pp"] == 0.5 and level["epochs"] == 40
    for name in ("keras", "torch"):
        acc = report["backends"][name]["test_accuracy"]
        assert set(acc) >= {"mean", "std", "values", "n"} and acc["n"] == 2
        assert 0.0 <= acc["mean"] <= 1.0 and acc["std"] >= 0.0
        assert len(report["backends"][name]["runs"]) == 2
        assert len(report["backends"][name]["runs"][0]["history"]["loss"]) == 40
    (comparison,) = level["comparisons"]
    assert comparison["backend"] == "torch" and comparison["status"] == "PASS"
    assert comparison["low_pp"] <= comparison["diff_pp"] <= comparison["high_pp"]
    # the same weights, batches and formulas: XOR's four points give the same test loss to 1e-4 in both
    k, t = report["backends"]["keras"]["test_loss"]["values"], report["backends"]["torch"]["test_loss"]["values"]
    assert np.allclose(k, t, atol=1e-4)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000


def test_training_level_verdict_uses_the_interval():
    """A fake trainer: backend B is 1 pp worse with spread; one look (max_seeds = seeds) at the full 95 %: the
    verdict follows the paired or the Welch interval."""
    from dnnc.conformance.options import ConformOptions
    from dnnc.conformance.training import training_level
    from dnnc.runner.datasets.containers import Datasets, Split
    from dnnc.runner.history import History

    ir = compile_spec(EXAMPLES / "xor.toml")
    accuracy = {("a", 0): 0.98, ("a", 1): 0.97, ("a", 2): 0.975, ("b", 0): 0.97, ("b", 1): 0.96, ("b", 2): 0.965}

    class Fake:
        def __init__(self, name):
            self.name, self.supported_ops = name, ir.ops

    def train(ir_, backend, datasets, *, seed, epochs, progress=None):
        h = History()
        h.append(0, {"loss": 0.1, "accuracy": 0.9}, 0.0)
        h.test = {"test_loss": 0.1, "test_accuracy": accuracy[(backend.name, seed)]}
        return h

    x = np.zeros((4, 2), np.float32)
    data = Datasets(train=Split({"input": x}, {"dense_1": np.zeros((4, 1), np.float32)}),
                    test=Split({"input": x}, {"dense_1": np.zeros((4, 1), np.float32)}))
    for interval, tol, verdict in (("paired", 0.5, FAIL), ("paired", 1.5, PASS), ("welch", 1.5, INCONCLUSIVE),
                                   ("welch", 3.0, PASS)):
        options = ConformOptions(seeds=(0, 1, 2), max_seeds=3, tolerance_pp=tol, interval=interval, drift_epochs=0)
        result, info = training_level(ir, [Fake("a"), Fake("b")], data, options, train=train)
        assert result.verdict == verdict, (interval, tol)
        (c,) = result.data["comparisons"]
        assert c["diff_pp"] == pytest.approx(-1.0)
        # paired: every seed is 1 pp worse, so the interval is exactly [−1, −1]
        assert c["paired"]["method"] == "exact" and c["paired"]["high"] == pytest.approx(-1.0)
        # Welch: s² = 2.5e-5 each, se = sqrt(2·2.5e-5/3) = 0.0040825 → 0.40825 pp, df = 4, t = 2.776445
        assert c["welch"]["df"] == pytest.approx(4.0)
        assert c["welch"]["high"] == pytest.approx(-1.0 + 2.776445105 * 0.408248, abs=1e-5)
        assert c["method"] == ("exact" if interval == "paired" else "welch")
        assert info["b"]["test_accuracy"]["mean"] == pytest.approx(0.965)
        assert "must lie within ±" in result.checks[0].message


def test_usage_errors_exit_2(tmp_path):
    assert run_cli(SIGMOID, "--level", "bogus").exit_code == 2
    assert run_cli(SIGMOID, "--backends", "keras").exit_code == 2
    assert run_cli(SIGMOID, "--level", "structure", "--chart", tmp_path / "c.png").exit_code == 2
    assert run_cli(SIGMOID, "--seeds", "0,0").exit_code == 2
    result = run_cli(SIGMOID, "--backends", "keras,nosuch", "--level", "structure")
    assert result.exit_code == 1 and "unknown backend 'nosuch'" in result.output


@needs_both
def test_missing_data_leaves_the_level_not_judged_with_the_data_error(tmp_path):
    """Missing data is an environment error (exit 1), not a difference between backends: the level that needs
    the data is NOT JUDGED, and so is the whole comparison, though the structure level passed."""
    spec = tmp_path / "m.toml"
    spec.write_text(SIGMOID.read_text().replace('dataset = "mnist"', 'dataset = { type = "npz", path = "nope.npz" }'))
    out = tmp_path / "r.json"
    result = run_cli(spec, "--level", "structure,numeric", "--report", out)
    assert result.exit_code == 1
    doc = json.loads(out.read_text())
    level = doc["levels"]["numeric"]
    assert level["verdict"] == "NOT JUDGED" and "nope.npz" in level["error"]
    assert doc["levels"]["structure"]["verdict"] == "PASS" and doc["verdict"] == "NOT JUDGED"
    assert "numeric level not judged" in result.output and ": NOT JUDGED" in result.output
    assert "FAIL" not in result.output


def test_unsupported_ops_fail_in_the_cli_and_skip_in_the_kit():
    from dnnc.compiler.initial_weights import initial_weights
    from dnnc.conformance.options import ConformOptions, unsupported_check
    from dnnc.conformance.structure import structure_level

    ir = compile_spec(EXAMPLES / "mnist_bn_dropout.toml")

    class NoBatchNorm:
        name = "partial"
        supported_ops = ir.ops - {"batch_norm"}

        def build(self, ir, weights):  # pragma: no cover - never reached
            raise AssertionError("a backend must not be asked to build what it does not support")

    fail = unsupported_check("numeric", NoBatchNorm(), "torch", ir, "fail")
    assert fail.status == FAIL and fail.detail.startswith("unsupported op batch_norm by backend partial")
    level = structure_level(ir, [NoBatchNorm()], initial_weights(ir, 0), ConformOptions(unsupported="skip"))
    assert level.verdict == SKIP
    assert "unsupported op batch_norm by backend partial (layers batch_norm, batch_norm_1, batch_norm_2)" in level.checks[0].message

    from dnnc.conformance.test_kit import _skip_unsupported

    with pytest.raises(pytest.skip.Exception, match="unsupported op batch_norm by backend partial"):
        _skip_unsupported(ir, NoBatchNorm())


def test_the_pytest_plugin_imports_no_framework_and_the_kit_is_inert_without_its_option(tmp_path):
    code = ("import sys, dnnc.conformance.pytest_plugin, dnnc.conformance.test_kit; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"
    # the kit's options come from the pytest11 entry point of the installed package
    run = subprocess.run([sys.executable, "-m", "pytest", "--pyargs",
                          "dnnc.conformance", "-q", "-k", "op_dense and not rank3 and not no_bias", "-rs"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "passed" not in run.stdout and "skipped" in run.stdout
    assert "runs only with --dnnc-backend NAME" in run.stdout
