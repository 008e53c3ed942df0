"""Everything `dnnc tune` checks before the first trial, reported as located spec errors (exit 2).

* the spec itself compiles (``[search]`` is ignored by the compiler) and has a
  ``[search]`` table, a ``[training]`` table and data;
* each key of ``[search.space]`` is a path in the ``--set`` syntax;
* each parameter, set alone to each end of its range (``low`` and the largest
  reachable ``high``) or to each of its choices, the other values as the file
  has them, gives a valid spec: an unknown key, a value the layer refuses or a
  shape that no longer fits is reported at the parameter's line in the file,
  naming the value and the inner problem;
* ``metric`` is a key every epoch's history will hold (``loss``, the metrics,
  ``val_…`` when there are validation rows, ``learning_rate`` with
  reduce_lr_on_plateau); a metric that is better when larger (accuracy,
  precision, recall, AUC) needs ``direction = "maximize"`` written out;
* the grid sampler gets only parameters with finitely many values.

Combinations of values are not checked (their number grows as the product of
the ranges): a trial whose combination is invalid ends as failed, with the
compiler's message as its reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from ..compiler.compile import compile_spec, load_spec
from ..compiler.errors import SpecError, SpecIssue, format_path, short_repr
from ..compiler.ir import ModelIR
from ..compiler.locate import locate_issues
from ..compiler.source import SpecSource
from ..compiler.suggest import did_you_mean, format_choices
from ..runner.overrides import parse_key, set_path
from ..spec_schema.search import SearchSection
from .space import Param

#: Substrings of metric names that are better when larger.
MAXIMIZED = ("accuracy", "precision", "recall", "auc")
#: Inner issues quoted in one message about a probe.
_QUOTED = 3


@dataclass(frozen=True)
class SearchPlan:
    """A checked search: the spec, its settings and its parameters."""

    source: SpecSource
    ir: ModelIR
    """The spec as written (the values of the file)."""
    search: SearchSection
    params: list[Param]
    history_keys: list[str]

    @property
    def metric(self) -> str:
        return self.search.metric

    @property
    def direction(self) -> str:
        return self.search.direction


def check_search(source: SpecSource, *, sampler: str | None = None, trials: int | None = None,
                 seed: int | None = None) -> SearchPlan:
    """Check the search of ``source`` (``sampler``, ``trials``, ``seed`` override the table's); raise SpecError."""
    _, spec = load_spec(source)
    ir = compile_spec(source)
    search: SearchSection | None = spec.search
    if search is None:
        raise _error(source, [SpecIssue(("search",), "the spec has no [search] table: nothing to tune",
                                        hint="add [search] and [search.space] (see docs/tuning.md)", kind="missing")])
    updates = {k: v for k, v in (("sampler", sampler), ("trials", trials), ("seed", seed)) if v is not None}
    if updates:
        search = search.model_copy(update=updates)
    issues: list[SpecIssue] = []
    if ir.training is None:
        issues.append(SpecIssue(("training",), "dnnc tune needs a [training] table: nothing says how to train a trial",
                                kind="missing"))
    if ir.data is None:
        issues.append(SpecIssue(("data",), "dnnc tune needs a [data] table: nothing says what to train on",
                                kind="missing"))
    if issues:
        raise _error(source, issues)

    params: list[Param] = []
    for key, param_spec in search.space.items():
        where = ("search", "space", key)
        try:
            path = parse_key(key)
        except SpecError as exc:
            issues.append(SpecIssue(where, f"not a path in the --set syntax: {exc.issues[0].message}", received=key,
                                    allowed="e.g. model.layers[0].units or training.optimizer.learning_rate"))
            continue
        param = Param(key=key, path=path, spec=param_spec)
        params.append(param)
        issues += _probe(source, param)
        if search.sampler == "grid" and not param.has_grid:
            issues.append(SpecIssue(where + ("type",), "the grid sampler needs finitely many values, but this float "
                                    "parameter is continuous", hint="give it a step, or use sampler = \"random\""))

    keys = history_keys(ir)
    issues += _check_metric(spec.search, search, keys)
    if issues:
        raise _error(source, issues)
    return SearchPlan(source=source, ir=ir, search=search, params=params, history_keys=keys)


def history_keys(ir: ModelIR) -> list[str]:
    """Every key each epoch's history will hold for ``ir`` (see :class:`dnnc.runner.loop.Trainer`)."""
    from ..runner.metrics import MetricSet

    keys = MetricSet(ir).keys()
    if ir.data is not None and (ir.data["validation_split"] or ir.data["validation"] is not None):
        keys = keys + ["val_" + k for k in keys]
    if ir.training is not None and any(c["type"] == "reduce_lr_on_plateau" for c in ir.training.callbacks):
        keys.append("learning_rate")
    return keys


def _probe(source: SpecSource, param: Param) -> list[SpecIssue]:
    """Issues of the spec with ``param`` set to each end or choice (one per failing value)."""
    where = ("search", "space", param.key)
    failures: dict[str, list[str]] = {}  # inner problem → the values that cause it
    for what, value in param.probes():
        data = copy.deepcopy(source.data)
        data.pop("search", None)
        try:
            set_path(data, param.path, value, param.key)
            compile_spec(SpecSource(path=source.path, display_name=source.display_name, text="",
                                    format=source.format, data=data))
        except SpecError as exc:
            inner = "; ".join(_inner(i) for i in exc.issues[:_QUOTED])
            more = len(exc.issues) - _QUOTED
            if more > 0:
                inner += f"; and {more} more"
            failures.setdefault(inner, []).append(what)
    return [SpecIssue(where, f"with {' and '.join(whats)} the spec is invalid: {inner}", kind="search")
            for inner, whats in failures.items()]


def _inner(issue: SpecIssue) -> str:
    text = (format_path(issue.path) + ": " if issue.path else "") + issue.message
    details = []
    if issue.has_received:
        details.append(f"received {short_repr(issue.received)}")
    if issue.allowed:
        details.append(f"allowed {issue.allowed}")
    return text + (f" ({'; '.join(details)})" if details else "")


def _check_metric(written: SearchSection, search: SearchSection, keys: list[str]) -> list[SpecIssue]:
    metric = search.metric
    at = ("search", "metric") if "metric" in written.model_fields_set else ("search",)
    if metric not in keys:
        guess = did_you_mean(metric, keys)
        hint = f"did you mean {guess!r}?" if guess else None
        if metric.startswith("val_") and not any(k.startswith("val_") for k in keys):
            hint = "the data has no validation rows: set data.validation_split or data.validation"
        return [SpecIssue(at, f"metric {metric!r} is not a per-epoch key of the history", received=metric,
                          allowed=format_choices(keys), hint=hint, kind="search")]
    if "direction" not in written.model_fields_set and any(m in metric for m in MAXIMIZED):
        return [SpecIssue(("search",), f"metric {metric!r} is better when larger, but direction is 'minimize' "
                                       "(the default)", hint='set direction = "maximize" (or "minimize" to mean it)',
                          kind="search")]
    return []


def _error(source: SpecSource, issues: list[SpecIssue]) -> SpecError:
    if source.text:
        return SpecError(locate_issues(source, issues))
    return SpecError([replace(i, file=source.display_name) for i in issues])


__all__ = ["MAXIMIZED", "SearchPlan", "check_search", "history_keys"]
