"""Sequential seeds: add seeds until the interval of the difference decides, spending α over the looks.

The training level compares the mean test accuracy of a backend with the
reference's through the per-seed differences d_1, d_2, … (percentage points).
After the first ``first`` seeds, and after every further seed up to ``cap``
seeds, it **looks**: the interval of the mean difference at look n (``n``
seeds) has confidence 1 − α_n and

* lies within ± tolerance → **PASS** (the backends are equivalent within the tolerance);
* lies entirely outside ± tolerance → **FAIL** (they differ by more than the tolerance);
* otherwise → another seed; at ``cap`` seeds → **INCONCLUSIVE**.

Looking repeatedly at a fixed-level interval inflates the error rates (with
a 95 % interval checked after every seed up to 20, a backend whose true
difference sits at the tolerance is declared FAIL about 13 % of the time,
simulated).  Here the total α = 1 − confidence is **spent over the looks**
with the power spending function α·(n/cap)²:

    α_n = α·[(n/cap)² − ((n − 1)/cap)²]    (α_first = α·(first/cap)²),  Σ α_n = α.

By the union bound (Bonferroni over the looks, valid whatever the dependence
between looks), every interval of every look covers the true mean difference
simultaneously with probability ≥ 1 − α, so the probability of any wrong
decision (a PASS when |δ| > tolerance, a FAIL when |δ| ≤ tolerance) is at most
α — under the interval's own assumption (paired t: normal per-seed
differences).  The quadratic spending keeps little α for the first looks,
where few degrees of freedom make the interval wide anyway, and most for the
last ones.  With ``cap == first`` there is one look at the full α (the fixed
design).

:func:`seeds_needed` estimates, from the observed mean and spread, the
smallest cap whose last look would decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .results import FAIL, INCONCLUSIVE, PASS
from .stats import DiffInterval, paired_interval, t_ppf, welch_df, welch_interval

CONTINUE = "CONTINUE"
"""The decision of a look that decides nothing (more seeds needed)."""
SPENDING_POWER = 2.0
MAX_SEEDS_ESTIMATE = 1000
"""The largest cap :func:`seeds_needed` considers."""


@dataclass(frozen=True)
class SequentialDesign:
    """Looks after ``first``, ``first + 1``, …, ``cap`` seeds; total confidence ``confidence``."""

    first: int
    cap: int
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.first < 2:
            raise ValueError(f"the first look needs at least 2 seeds (received {self.first})")
        if self.cap < self.first:
            raise ValueError(f"the cap ({self.cap} seeds) is below the first look ({self.first} seeds)")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1 (received {self.confidence})")

    @property
    def looks(self) -> range:
        return range(self.first, self.cap + 1)

    def _spent(self, n: int) -> float:
        return (n / self.cap) ** SPENDING_POWER if n < self.cap else 1.0

    def alpha_at(self, n: int) -> float:
        """α spent at the look after `n` seeds."""
        if n not in self.looks:
            raise ValueError(f"no look after {n} seeds (looks: {self.first}…{self.cap})")
        alpha = 1.0 - self.confidence
        return alpha * (self._spent(n) - (self._spent(n - 1) if n > self.first else 0.0))

    def confidence_at(self, n: int) -> float:
        """The confidence of the interval at the look after `n` seeds."""
        return 1.0 - self.alpha_at(n)

    def to_dict(self) -> dict:
        return {"first": self.first, "cap": self.cap, "confidence": self.confidence,
                "spending": f"alpha*(n/cap)^{SPENDING_POWER:g}",
                "alpha_per_look": {n: self.alpha_at(n) for n in self.looks}}


def decide(interval: DiffInterval, tolerance: float) -> str:
    """PASS inside ± tolerance, FAIL entirely outside it, CONTINUE when it straddles a bound."""
    if interval.within(tolerance):
        return PASS
    if interval.low > tolerance or interval.high < -tolerance:
        return FAIL
    return CONTINUE


def interval_at(a: Sequence[float], b: Sequence[float], n: int, design: SequentialDesign, *,
                paired: bool) -> DiffInterval:
    """The interval of mean(a) − mean(b) over the first `n` values at look n's confidence."""
    confidence = design.confidence_at(n)
    if paired:
        return paired_interval(a[:n], b[:n], confidence)
    return welch_interval(a[:n], b[:n], confidence)


def seeds_needed(diff: float, std_a: float, std_b: float, tolerance: float, first: int, confidence: float, *,
                 paired: bool, beyond: int = 1) -> int | None:
    """The smallest cap N ≥ `beyond` whose last look would decide at this difference and spread; None when none up
    to MAX_SEEDS_ESTIMATE does (or the difference sits on the tolerance).

    Paired (``std_a`` = the standard deviation of the per-seed differences): t(N − 1)·s_d/√N ≤ |tol − |diff||;
    Welch: t(ν)·sqrt((s_a² + s_b²)/N) ≤ |tol − |diff||, at the last look's confidence 1 − α_N.
    """
    room = abs(tolerance - abs(diff))
    if room == 0.0:
        return None
    va, vb = std_a ** 2, std_b ** 2
    for n in range(max(beyond, first, 2), MAX_SEEDS_ESTIMATE + 1):
        alpha = SequentialDesign(first, n, confidence).alpha_at(n)
        if paired:
            se, df = std_a / math.sqrt(n), n - 1
        else:
            se = math.sqrt((va + vb) / n)
            df = welch_df(va, n, vb, n) if va + vb > 0 else 2 * n - 2
        if se == 0.0 or t_ppf(1.0 - alpha / 2.0, df) * se <= room:
            return n
    return None


__all__ = ["CONTINUE", "INCONCLUSIVE", "SequentialDesign", "decide", "interval_at", "seeds_needed"]
