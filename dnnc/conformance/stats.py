"""Statistics of the training level, without scipy.

* :func:`t_ppf` — quantiles of Student's t distribution for any (also
  non-integer) degrees of freedom: the CDF is written with the regularised
  incomplete beta function (continued fraction, Lentz's method) and inverted
  by bisection to full double precision.  ``df = inf`` gives the normal
  quantile.
* :func:`summarize` — mean and sample standard deviation (ddof = 1).
* :func:`welch_interval` — the Welch–Satterthwaite confidence interval of the
  difference of two means (unequal variances, independent samples);
* :func:`paired_interval` — the paired t interval of the mean difference
  (samples paired by seed).  The training level reports both for "backend −
  reference" test accuracy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Sequence


# -- Student's t -------------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1."""
    if not (a > 0 and b > 0):
        raise ValueError(f"betainc needs a > 0 and b > 0 (received a={a}, b={b})")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs 0 <= x <= 1 (received x={x})")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with `df` degrees of freedom (df > 0; inf gives the normal CDF)."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0 (received {df})")
    if math.isinf(df):
        return NormalDist().cdf(t)
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (0 < p < 1, df > 0 or inf)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile needs 0 < p < 1 (received {p})")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0 (received {df})")
    if math.isinf(df) or df > 1e7:
        return NormalDist().inv_cdf(p)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:  # pragma: no cover - p extremely close to 1 with tiny df
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


# -- summaries and the Welch interval ------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value) of some runs."""

    n: int
    mean: float
    std: float
    values: tuple[float, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["values"] = list(self.values)
        return d


def summarize(values: Sequence[float]) -> Summary:
    vals = tuple(float(v) for v in values)
    if not vals:
        raise ValueError("cannot summarise an empty list of values")
    n = len(vals)
    mean = math.fsum(vals) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return Summary(n=n, mean=mean, std=std, values=vals)


@dataclass(frozen=True)
class DiffInterval:
    """Confidence interval of mean(a) − mean(b) (Welch; unequal variances).

    ``method`` is ``"welch"``, ``"exact"`` (both samples constant: the interval
    is the point difference) or ``"point"`` (a sample has one value, so no
    variance can be estimated: the interval is the point difference and
    ``df`` is NaN).
    """

    diff: float
    low: float
    high: float
    se: float
    df: float
    t: float
    confidence: float
    method: str

    def within(self, tolerance: float) -> bool:
        """True when the whole interval lies in [−tolerance, +tolerance]."""
        return -tolerance <= self.low and self.high <= tolerance

    def scaled(self, factor: float) -> "DiffInterval":
        """The same interval in other units (e.g. ×100 for percentage points)."""
        return DiffInterval(self.diff * factor, self.low * factor, self.high * factor, self.se * factor,
                            self.df, self.t, self.confidence, self.method)

    def to_dict(self) -> dict:
        d = asdict(self)
        if math.isnan(d["df"]):
            d["df"] = None
        return d


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom of the difference of two means."""
    qa, qb = var_a / n_a, var_b / n_b
    denom = qa * qa / (n_a - 1) + qb * qb / (n_b - 1)
    if denom == 0.0:
        return float(n_a + n_b - 2)
    return (qa + qb) ** 2 / denom


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> DiffInterval:
    """The `confidence` interval of mean(a) − mean(b) with Welch's t (no equal-variance assumption).

    diff ± t_{(1+c)/2, ν} · sqrt(s_a²/n_a + s_b²/n_b), ν the Welch–Satterthwaite
    degrees of freedom.  See :class:`DiffInterval` for the degenerate cases.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (received {confidence})")
    sa, sb = summarize(a), summarize(b)
    diff = sa.mean - sb.mean
    if sa.n < 2 or sb.n < 2:
        return DiffInterval(diff, diff, diff, math.nan, math.nan, math.nan, confidence, "point")
    var_a, var_b = sa.std ** 2, sb.std ** 2
    se = math.sqrt(var_a / sa.n + var_b / sb.n)
    df = welch_df(var_a, sa.n, var_b, sb.n)
    t = t_ppf(0.5 + confidence / 2.0, df)
    if se == 0.0:
        return DiffInterval(diff, diff, diff, 0.0, df, t, confidence, "exact")
    return DiffInterval(diff, diff - t * se, diff + t * se, se, df, t, confidence, "welch")


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> DiffInterval:
    """The `confidence` interval of mean(a − b) for paired samples (a_i and b_i share seed i).

    mean(d) ± t_{(1+c)/2, n−1} · s_d / sqrt(n), d_i = a_i − b_i.  ``method`` is
    ``"paired"``, ``"exact"`` (every d_i equal: the interval is that value) or
    ``"point"`` (a single pair).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (received {confidence})")
    if len(a) != len(b):
        raise ValueError(f"paired samples need the same length (received {len(a)} and {len(b)})")
    d = summarize([float(x) - float(y) for x, y in zip(a, b)])
    if d.n < 2:
        return DiffInterval(d.mean, d.mean, d.mean, math.nan, math.nan, math.nan, confidence, "point")
    se = d.std / math.sqrt(d.n)
    df = float(d.n - 1)
    t = t_ppf(0.5 + confidence / 2.0, df)
    if se == 0.0:
        return DiffInterval(d.mean, d.mean, d.mean, 0.0, df, t, confidence, "exact")
    return DiffInterval(d.mean, d.mean - t * se, d.mean + t * se, se, df, t, confidence, "paired")
