"""What `dnnc conform` finds: checks, level results and the whole report (plain data, JSON-ready).

A :class:`Check` is one comparison of one backend with the reference backend:
what was compared (``name``, ``target`` — the layer, parameter or output),
the measured ``error`` in the documented ``norm``, the ``tolerance`` and the
verdict.  Its :attr:`Check.message` is the sentence printed for a failure: it
always names the level, the backend, the layer/parameter, the values and the
tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
INCONCLUSIVE = "INCONCLUSIVE"
NOT_JUDGED = "NOT JUDGED"
"""A level that could not run (its data set missing, the reference backend unable to train): nothing was compared,
so nothing passed or failed."""
LEVELS = ("structure", "numeric", "training")

EXIT_CODES = {PASS: 0, FAIL: 1, NOT_JUDGED: 1, INCONCLUSIVE: 3}
"""Exit status of `dnnc conform` per report verdict (2 is a usage or spec error, as for every command; 1 is also
that of an environment or data error, which is what leaves a level not judged)."""


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}" if 1e-3 <= abs(value) < 1e6 else f"{value:.3g}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return "[" + ", ".join(fmt_value(v) for v in value[:6]) + ", …]"
    return str(value)


@dataclass
class Check:
    """One comparison of `backend` with `reference` at one level."""

    level: str
    name: str
    backend: str
    reference: str
    status: str
    target: str = ""
    value: Any = None
    expected: Any = None
    error: float | None = None
    tolerance: float | None = None
    norm: str = ""
    detail: str = ""
    step: int | None = None
    batch: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def message(self) -> str:
        """One sentence: level, backend vs reference, what, where, the values, the error and the tolerance."""
        where = f" of {self.target}" if self.target else ""
        step = f" at step {self.step}" if self.step is not None else ""
        step += f" on batch {self.batch}" if self.batch is not None else ""
        head = f"[{self.level}] {self.backend} vs {self.reference}: {self.name}{where}{step}"
        if self.status == SKIP:
            return f"{head} skipped: {self.detail}"
        if self.status == INCONCLUSIVE:
            return f"{head} is inconclusive: {self.detail}"
        parts = []
        if self.value is not None or self.expected is not None:
            parts.append(f"{self.backend} {fmt_value(self.value)}, {self.reference} {fmt_value(self.expected)}")
        if self.error is not None:
            measure = f"{self.norm} " if self.norm else "error "
            tol = f" {'>' if self.status == FAIL else '<='} tolerance {fmt_value(self.tolerance)}" if self.tolerance is not None else ""
            parts.append(f"{measure}{fmt_value(self.error)}{tol}")
        if self.detail:
            parts.append(self.detail)
        verdict = "differs" if self.status == FAIL else "agrees"
        return f"{head} {verdict}: " + "; ".join(parts) if parts else f"{head} {verdict}"

    def to_dict(self) -> dict[str, Any]:
        d = {k: _jsonable(getattr(self, k)) for k in (
            "level", "name", "backend", "reference", "status", "target", "value", "expected",
            "error", "tolerance", "norm", "detail", "step", "batch")}
        d["message"] = self.message
        return d


def _jsonable(value: Any) -> Any:
    """Plain JSON values (NaN/inf become strings, numpy scalars and arrays become Python numbers and lists)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def verdict_of(statuses: Iterable[str]) -> str:
    """FAIL if anything failed; INCONCLUSIVE if anything is; SKIP if nothing ran; PASS otherwise."""
    statuses = list(statuses)
    if FAIL in statuses:
        return FAIL
    if INCONCLUSIVE in statuses:
        return INCONCLUSIVE
    if not statuses or all(s == SKIP for s in statuses):
        return SKIP
    return PASS


@dataclass
class LevelResult:
    """The checks of one level, plus level-specific data (training: summaries and intervals)."""

    level: str
    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return NOT_JUDGED
        return verdict_of(c.status for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def undecided(self) -> list[Check]:
        return [c for c in self.checks if c.status == INCONCLUSIVE]

    def to_dict(self) -> dict[str, Any]:
        counts = {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, INCONCLUSIVE, SKIP)}
        d = {"verdict": self.verdict, "counts": counts, "checks": [c.to_dict() for c in self.checks]}
        if self.error is not None:
            d["error"] = self.error
        d.update(_jsonable(self.data))
        return d


@dataclass
class ConformReport:
    """Everything one `dnnc conform` run found."""

    spec: str
    model: str
    backends: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    levels: dict[str, LevelResult] = field(default_factory=dict)
    backend_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return self.backends[0]

    @property
    def verdict(self) -> str:
        """FAIL when a level failed or was skipped (or nothing ran); NOT JUDGED when a level could not run and none
        failed; INCONCLUSIVE when a level is undecided and none failed; PASS when every level passed."""
        verdicts = [r.verdict for r in self.levels.values()]
        if not verdicts or any(v in (FAIL, SKIP) for v in verdicts):
            return FAIL
        if NOT_JUDGED in verdicts:
            return NOT_JUDGED
        return INCONCLUSIVE if INCONCLUSIVE in verdicts else PASS

    @property
    def exit_code(self) -> int:
        """0 PASS, 1 FAIL or NOT JUDGED, 3 INCONCLUSIVE (:data:`EXIT_CODES`)."""
        return EXIT_CODES[self.verdict]

    def not_judged_messages(self) -> list[str]:
        """Why each level that could not run did not (``[numeric] the data could not be loaded: …``)."""
        return [f"[{level.level}] {level.error}" for level in self.levels.values() if level.error is not None]

    def failure_messages(self, *, not_judged: bool = True) -> list[str]:
        """Every failed check, every level compared nothing; with `not_judged`, first why a level could not run."""
        out = []
        for level in self.levels.values():
            if level.error is not None and not_judged:
                out.append(f"[{level.level}] {level.error}")
            out.extend(c.message for c in level.failures)
            if level.verdict == SKIP:
                out.append(f"[{level.level}] nothing was compared: "
                           + ("; ".join(c.detail for c in level.checks if c.detail) or "every check was skipped"))
        return out

    def inconclusive_messages(self) -> list[str]:
        """One sentence per undecided comparison: what was measured and how many seeds would decide."""
        return [c.message for level in self.levels.values() for c in level.undecided]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "spec": self.spec,
            "model": self.model,
            "reference": self.reference,
            "backend_order": list(self.backends),
            "settings": _jsonable(self.settings),
            "levels": {name: r.to_dict() for name, r in self.levels.items()},
            "backends": {name: _jsonable(self.backend_info.get(name, {})) for name in self.backends},
            "failures": self.failure_messages(),
            "inconclusive": self.inconclusive_messages(),
            "environment": _jsonable(self.environment),
        }
