"""The training level's sequential seeds: α spent over the looks, PASS / FAIL / INCONCLUSIVE, the seeds needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dnnc.conformance.options import ConformOptions
from dnnc.conformance.results import FAIL, INCONCLUSIVE, NOT_JUDGED, PASS, ConformReport
from dnnc.conformance.sequential import CONTINUE, SequentialDesign, decide, interval_at, seeds_needed
from dnnc.conformance.stats import DiffInterval, t_ppf
from dnnc.conformance.training import seed_stream, training_level
from dnnc.runner.datasets.containers import Datasets, Split
from dnnc.runner.history import History
from support.fakes import ir_from_toml, xor_spec


# ---------------------------------------------------------------------------
# the design
# ---------------------------------------------------------------------------

def test_alpha_is_spent_quadratically_and_adds_up_to_one_minus_the_confidence():
    design = SequentialDesign(2, 20, 0.95)
    alphas = [design.alpha_at(n) for n in design.looks]
    assert math.fsum(alphas) == pytest.approx(0.05, abs=1e-15)
    assert design.alpha_at(2) == pytest.approx(0.05 * (2 / 20) ** 2)           # 5e-4 at the first look
    assert design.alpha_at(20) == pytest.approx(0.05 * (1 - (19 / 20) ** 2))   # 4.875e-3 at the last
    assert all(b > a for a, b in zip(alphas[1:], alphas[2:]))                  # increasing after the first look
    assert design.confidence_at(20) == pytest.approx(1 - 0.004875)
    # one look: the fixed design at the full confidence
    assert SequentialDesign(5, 5, 0.9).alpha_at(5) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        SequentialDesign(1, 5)
    with pytest.raises(ValueError, match="below the first look"):
        SequentialDesign(6, 5)
    with pytest.raises(ValueError, match="no look after 7"):
        SequentialDesign(2, 6).alpha_at(7)


def test_decisions_of_one_look():
    def iv(low, high):
        return DiffInterval((low + high) / 2, low, high, 0.1, 3.0, 3.0, 0.99, "paired")

    assert decide(iv(-0.4, 0.45), 0.5) == PASS
    assert decide(iv(0.55, 1.2), 0.5) == FAIL and decide(iv(-1.2, -0.51), 0.5) == FAIL
    assert decide(iv(0.3, 0.7), 0.5) == CONTINUE and decide(iv(-0.6, 0.6), 0.5) == CONTINUE


def test_the_interval_of_a_look_uses_that_looks_confidence():
    design = SequentialDesign(2, 10, 0.95)
    a, b = [1.0, 1.4, 0.8, 1.2], [1.0, 1.0, 1.0, 1.0]
    iv = interval_at(a, b, 4, design, paired=True)
    d = np.array(a) - np.array(b)
    half = t_ppf(1 - design.alpha_at(4) / 2, 3) * d.std(ddof=1) / 2
    assert iv.diff == pytest.approx(d.mean()) and iv.high - iv.diff == pytest.approx(half)
    welch = interval_at(a, b, 4, design, paired=False)
    assert welch.method == "welch" and welch.confidence == pytest.approx(design.confidence_at(4))


def test_seeds_needed_is_the_smallest_cap_whose_last_look_decides():
    def half_width(n, sd):
        return t_ppf(1 - SequentialDesign(2, n, 0.95).alpha_at(n) / 2, n - 1) * sd / math.sqrt(n)

    need = seeds_needed(0.1, 0.5, 0.0, 0.5, 2, 0.95, paired=True)
    assert half_width(need, 0.5) <= 0.4 < half_width(need - 1, 0.5)
    assert 15 <= need <= 40
    # FAIL side: mean 0.8 pp beyond ±0.5 needs the interval to shrink to 0.3
    need = seeds_needed(0.8, 0.3, 0.0, 0.5, 2, 0.95, paired=True)
    assert half_width(need, 0.3) <= 0.3 < half_width(need - 1, 0.3)
    assert seeds_needed(0.5, 0.3, 0.0, 0.5, 2, 0.95, paired=True) is None   # on the tolerance: never
    assert seeds_needed(0.0, 0.0, 0.0, 0.5, 2, 0.95, paired=True, beyond=7) == 7
    welch = seeds_needed(0.1, 0.4, 0.4, 0.5, 2, 0.95, paired=False)
    assert welch > seeds_needed(0.1, 0.4, 0.0, 0.5, 2, 0.95, paired=True)


def test_spending_keeps_the_error_rate_that_looking_after_every_seed_inflates():
    """Simulated with normal per-seed differences at the tolerance (δ = 0.5 pp, σ = 0.3 pp), looks after 2…20
    seeds: the naive 95 % interval at every look declares FAIL (wrong: |δ| ≤ tol) about 13 % of the time; the
    spent design errs (FAIL, or PASS, which is not wrong here but counts against the bound) at most α = 5 %."""
    rng = np.random.default_rng(20261124)
    reps, cap, tol = 4000, 20, 0.5
    d = rng.normal(0.5, 0.3, size=(reps, cap))
    n = np.arange(1, cap + 1)
    mean = np.cumsum(d, axis=1) / n
    var = (np.cumsum(d * d, axis=1) - n * mean * mean) / np.maximum(n - 1, 1)
    se = np.sqrt(np.maximum(var, 0) / n)

    def wrong_fail_rate(quantiles):
        decided = np.zeros(reps, bool)
        wrong = np.zeros(reps, bool)
        for k, t in quantiles.items():
            lo, hi = mean[:, k - 1] - t * se[:, k - 1], mean[:, k - 1] + t * se[:, k - 1]
            fail = ~decided & ((lo > tol) | (hi < -tol))
            passed = ~decided & (lo >= -tol) & (hi <= tol)
            wrong |= fail
            decided |= fail | passed
        return wrong.mean()

    design = SequentialDesign(2, cap, 0.95)
    spent = wrong_fail_rate({k: t_ppf(1 - design.alpha_at(k) / 2, k - 1) for k in design.looks})
    naive = wrong_fail_rate({k: t_ppf(0.975, k - 1) for k in design.looks})
    assert naive > 0.09          # measured 0.13
    assert spent <= 0.05 / 2 + 0.01   # one side of the two-sided α; measured 0.01


def test_seed_stream_continues_after_the_first_looks_seeds():
    assert seed_stream((0, 1), 5) == [0, 1, 2, 3, 4]
    assert seed_stream((7, 3, 9), 5) == [7, 3, 9, 10, 11]
    assert seed_stream((0, 1, 2), 3) == [0, 1, 2]


# ---------------------------------------------------------------------------
# the training level with a fake trainer
# ---------------------------------------------------------------------------

IR = ir_from_toml(xor_spec(), "xor")
X = np.zeros((4, 2), np.float32)
DATA = Datasets(train=Split({"input": X}, {"dense_1": np.zeros((4, 1), np.float32)}),
                test=Split({"input": X}, {"dense_1": np.zeros((4, 1), np.float32)}))


class Named:
    def __init__(self, name):
        self.name, self.supported_ops = name, IR.ops


def fake_train(accuracy, calls):
    """A train function whose test accuracy is accuracy(backend name, seed); it records every call."""

    def train(ir, backend, datasets, *, seed, epochs, progress=None, **_):
        calls.append((backend.name, seed))
        h = History()
        h.append(0, {"loss": 0.1, "accuracy": 0.9}, 0.0)
        h.test = {"test_loss": 0.1, "test_accuracy": accuracy(backend.name, seed)}
        return h

    return train


def level(accuracy, names=("ref", "b"), **options):
    calls: list = []
    options = {"seeds": (0, 1), "max_seeds": 8, "tolerance_pp": 0.5, "drift_epochs": 0, **options}
    result, info = training_level(IR, [Named(n) for n in names], DATA, ConformOptions(**options),
                                  train=fake_train(accuracy, calls))
    return result, info, calls


def noise(name, seed, sd):
    return float(np.random.default_rng([seed, sum(map(ord, name))]).normal(0, sd))


def test_identical_accuracies_pass_at_the_first_look():
    result, info, calls = level(lambda b, s: 0.9 + 0.01 * s)
    assert result.verdict == PASS
    (c,) = result.data["comparisons"]
    assert c["seeds"] == 2 and c["method"] == "exact" and c["diff_pp"] == 0.0
    assert calls == [("ref", 0), ("b", 0), ("ref", 1), ("b", 1)]
    assert result.data["seeds"] == [0, 1] and result.data["cost"]["training_runs"] == 4


def test_a_clear_difference_fails_before_the_cap():
    """b is 2 pp worse with 0.1 pp of per-seed noise: the interval leaves ±0.5 pp after a few seeds."""
    result, _, calls = level(lambda b, s: 0.95 - (0.02 if b == "b" else 0.0) + noise(b, s, 0.001))
    assert result.verdict == FAIL
    (c,) = result.data["comparisons"]
    assert c["status"] == FAIL and 2 <= c["seeds"] < 8 and c["high_pp"] < -0.5
    assert [look["decision"] for look in c["looks"]][-1] == FAIL
    assert len(calls) == 2 * c["seeds"]


def test_an_undecided_difference_is_inconclusive_with_the_seeds_it_would_need():
    """b is 0.5 pp worse (on the tolerance) with 0.3 pp of per-seed noise: 8 seeds decide nothing."""
    result, info, calls = level(lambda b, s: 0.95 + (noise(b, s, 0.003) - 0.005 if b == "b" else 0.0))
    assert result.verdict == INCONCLUSIVE
    (c,) = result.data["comparisons"]
    assert c["status"] == INCONCLUSIVE and c["seeds"] == 8 and len(c["looks"]) == 7
    assert c["seeds_needed"] is not None and c["seeds_needed"] > 8
    (check,) = [k for k in result.checks if k.name == "mean test accuracy difference"]
    assert "is inconclusive" in check.message and f"about {c['seeds_needed']} seeds" in check.message
    report = ConformReport("s", "m", ["ref", "b"], levels={"training": result})
    assert report.verdict == INCONCLUSIVE and report.exit_code == 3
    assert report.to_dict()["inconclusive"] == [check.message] and report.failure_messages() == []
    assert info["b"]["test_accuracy"]["n"] == 8 and len(calls) == 16


def test_a_decided_backend_is_no_longer_trained():
    """c equals the reference (PASS after 2 seeds); b needs more seeds: only ref and b train after seed 1."""
    acc = lambda b, s: 0.95 + noise("ref", s, 0.003) + (noise(b, s, 0.003) if b == "b" else 0.0)
    result, _, calls = level(acc, names=("ref", "b", "c"), max_seeds=6)
    statuses = {c["backend"]: (c["status"], c["seeds"]) for c in result.data["comparisons"]}
    assert statuses["c"] == (PASS, 2)
    assert ("c", 2) not in calls and ("b", 2) in calls and ("ref", 2) in calls


def test_a_failed_run_fails_the_level_and_stops_that_backend():
    def acc(b, s):
        return math.nan if (b, s) == ("b", 1) else 0.9

    result, _, calls = level(acc)
    assert result.verdict == FAIL
    (check,) = result.failures
    assert check.name == "training run" and "test_accuracy = nan" in check.detail
    assert ("b", 2) not in calls and result.data["comparisons"] == []


def test_the_cap_below_the_first_look_is_an_error():
    """Nothing is trained, so nothing is judged (the CLI refuses these settings as a usage error before)."""
    result, _, calls = level(lambda b, s: 0.9, seeds=(0, 1, 2), max_seeds=2)
    assert result.verdict == NOT_JUDGED and "below the first look" in result.error and not calls


# ---------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------

def _run_cli(*args):
    from support.cli import conform_cli

    return conform_cli(*args)


def test_the_exit_status_says_pass_fail_or_inconclusive(tmp_path, monkeypatch):
    """The CLI maps the report's verdict to 0 / 1 / 3 and passes the new options through."""
    import dnnc.conformance.conform as conform
    from dnnc.conformance.results import Check, LevelResult

    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec())
    seen = {}

    def fake_run(ir, names, options, **kw):
        seen.update(max_seeds=options.max_seeds, drift_epochs=options.drift_epochs, drift_factor=options.drift_factor,
                    seeds=options.seeds)
        level = LevelResult("training", [Check("training", "mean test accuracy difference", names[1], names[0],
                                               seen["status"], detail="measured")])
        return ConformReport(str(spec), ir.name, list(names), levels={"training": level})

    monkeypatch.setattr(conform, "run_conform", fake_run)
    for status, code in ((PASS, 0), (FAIL, 1), (INCONCLUSIVE, 3)):
        seen["status"] = status
        out = tmp_path / f"{status}.json"
        result = _run_cli(spec, "--level", "training", "--seeds", "3", "--max-seeds", "9", "--drift-epochs", "2",
                          "--drift-factor", "4", "--report", out)
        assert result.exit_code == code, result.output
        assert seen["max_seeds"] == 9 and seen["drift_epochs"] == 2 and seen["drift_factor"] == 4.0
        assert seen["seeds"] == (0, 1, 2)
        import json

        assert json.loads(out.read_text())["exit_code"] == code
    assert "is inconclusive: measured" in result.output


def test_seed_options_that_cannot_make_a_first_look_are_usage_errors(tmp_path):
    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec())
    result = _run_cli(spec, "--level", "training", "--seeds", "1")
    assert result.exit_code == 2 and "at least 2 seeds" in result.output
    result = _run_cli(spec, "--level", "training", "--seeds", "5", "--max-seeds", "4")
    assert result.exit_code == 2 and "--max-seeds (4) is below the 5 seeds" in result.output
    result = _run_cli(spec, "--level", "training", "--seeds", "25")
    assert result.exit_code == 2 and "max_seeds (20)" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text(xor_spec() + "\n[conformance]\nseeds = 6\nmax_seeds = 4\n")
    result = _run_cli(bad, "--level", "structure")
    assert result.exit_code == 2 and "max_seeds (4) must be at least seeds (6)" in result.output


def test_the_help_documents_the_exit_statuses():
    result = _run_cli("--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "3 INCONCLUSIVE" in text and "--max-seeds" in text and "--drift-factor" in text
