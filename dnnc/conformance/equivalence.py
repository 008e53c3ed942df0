"""Cross-backend equivalence: do two compiled models of one IR compute the same thing?

Given two :class:`~dnnc.backends.base.CompiledModel` objects built from the same
IR (or two backend names and an IR), :func:`compare_models` loads the same
canonical weights into both and runs five checks on one batch:

================  ===================================================================
check             what is compared
================  ===================================================================
param_counts      each model's own per-node (trainable, non-trainable) counts vs the IR
inference         ``forward(training=False)`` outputs
training_forward  ``forward(training=True)`` outputs, with the same dropout masks
moving_stats      non-trainable weights (batch-norm moving statistics) after that one
                  training-mode pass
loss              the losses of ``loss_and_gradients`` (training mode, same masks)
gradients         the gradient of the total loss for every trainable parameter
================  ===================================================================

Tolerances (:data:`DEFAULT_TOLERANCES`):

* **Element-wise** checks (inference, training_forward, moving_stats) pass when
  every element satisfies ``|a − b| ≤ max(atol, rtol·max(|a|, |b|))``: 1e-5
  absolute, relaxed to 1e-5 *relative* for values above 1 in magnitude (float32
  carries ~7 significant digits, so large logits cannot agree to 1e-5 absolute).
* **Array-relative** checks (loss, gradients) pass when, for each array,
  ``max|a − b| / scale ≤ rtol`` with rtol = 1e-4 and
  ``scale = max(max|a|, max|b|, floor, share·G)``, G being the largest value of
  the whole check (every parameter's gradient): the error is measured against
  the array's own scale (an element-wise relative error is meaningless for
  entries that are zero up to rounding), but never against less than 1 % of the
  model's largest gradient (share = 0.01), since a gradient that is
  mathematically zero — a dense bias followed by batch norm — is pure rounding
  noise of the size of the *other* gradients' rounding.
* param_counts must match exactly.

Each check returns a :class:`CheckResult` naming the worst key (output,
parameter or node, with the element index) so a report points at the layer at
fault.  The batch, targets and dropout masks come from :func:`make_batch` and
:func:`make_dropout_masks` (NumPy, seeded) unless given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..compiler.ir import ModelIR

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend, CompiledModel

Arrays = Mapping[str, np.ndarray]


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Tolerance:
    """``kind="elementwise"``: |a−b| ≤ max(atol, rtol·max(|a|,|b|)) per element;
    ``kind="relative"``: max|a−b| / max(max|a|, max|b|, floor, share·G) ≤ rtol per array,
    G = the largest |value| over all arrays of the check;
    ``kind="exact"``: equality."""

    kind: str
    atol: float = 0.0
    rtol: float = 0.0
    floor: float = 1e-6
    share: float = 0.0

    def describe(self) -> str:
        if self.kind == "elementwise":
            return f"|a−b| ≤ max({self.atol:g}, {self.rtol:g}·|ref|)"
        if self.kind == "relative":
            floor = f"scale ≥ {self.floor:g}" + (f", ≥ {self.share:g}·max of all" if self.share else "")
            return f"max|a−b|/max|ref| ≤ {self.rtol:g} ({floor})"
        return "exact"


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "param_counts": Tolerance("exact"),
    "inference": Tolerance("elementwise", atol=1e-5, rtol=1e-5),
    "training_forward": Tolerance("elementwise", atol=1e-5, rtol=1e-5),
    "moving_stats": Tolerance("elementwise", atol=1e-5, rtol=1e-5),
    "loss": Tolerance("relative", rtol=1e-4, floor=1e-6),
    "gradients": Tolerance("relative", rtol=1e-4, floor=1e-6, share=1e-2),
}
"""Check name → tolerance (override per call with ``tolerances={...}``)."""


@dataclass(frozen=True)
class CheckResult:
    """One comparison between the two models."""

    name: str
    passed: bool
    max_abs_diff: float
    max_rel_diff: float
    tolerance: str
    worst_key: str | None = None
    detail: str = ""
    skipped: bool = False

    def render(self) -> str:
        status = "skip" if self.skipped else ("ok" if self.passed else "FAIL")
        text = f"{status:<4} {self.name:<17} max abs {self.max_abs_diff:.3g}  max rel {self.max_rel_diff:.3g}  [{self.tolerance}]"
        if self.worst_key:
            text += f"  worst: {self.worst_key}"
        if self.detail:
            text += f"  ({self.detail})"
        return text


@dataclass
class EquivalenceReport:
    """All checks of one comparison."""

    model: str
    backends: tuple[str, str]
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return {"model": self.model, "backends": list(self.backends), "passed": self.passed,
                "checks": [asdict(c) for c in self.checks]}

    def render(self) -> str:
        head = f"{self.model}: {self.backends[0]} vs {self.backends[1]}: {'equivalent' if self.passed else 'NOT equivalent'}"
        return "\n".join([head, *("  " + c.render() for c in self.checks)])


# ---------------------------------------------------------------------------
# Array comparison
# ---------------------------------------------------------------------------

def _index_text(shape: tuple[int, ...], flat_index: int) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]"


def compare_arrays(name: str, a: Arrays, b: Arrays, tol: Tolerance, *, keys: Sequence[str] | None = None,
                   label: str = "") -> CheckResult:
    """Compare two dicts of arrays key by key under `tol`; the result names the worst key and element."""
    keys = list(keys) if keys is not None else sorted(set(a) | set(b))
    missing = [k for k in keys if k not in a or k not in b]
    if missing:
        return CheckResult(name, False, float("inf"), float("inf"), tol.describe(), missing[0],
                           f"missing in {'first' if missing[0] not in a else 'second'} model")
    worst_abs, worst_rel, worst_key, worst_score = 0.0, 0.0, None, 0.0
    passed = True
    overall = 0.0
    if tol.kind == "relative" and tol.share:
        for key in keys:
            for arr in (a[key], b[key]):
                arr = np.abs(np.asarray(arr, dtype=np.float64))
                if arr.size:
                    overall = max(overall, float(np.nanmax(arr)) if not np.isnan(arr).all() else 0.0)
    for key in keys:
        x = np.asarray(a[key], dtype=np.float64)
        y = np.asarray(b[key], dtype=np.float64)
        if x.shape != y.shape:
            return CheckResult(name, False, float("inf"), float("inf"), tol.describe(), key,
                               f"shapes differ: {x.shape} vs {y.shape}")
        if x.size == 0:
            continue
        nan_mismatch = np.isnan(x) != np.isnan(y)
        diff = np.where(np.isnan(x) & np.isnan(y), 0.0, np.abs(x - y))
        diff = np.where(nan_mismatch, np.inf, diff)
        ref = np.maximum(np.abs(np.nan_to_num(x)), np.abs(np.nan_to_num(y)))
        if tol.kind == "relative":
            scale = max(float(ref.max()), tol.floor, tol.share * overall)
            flat = int(np.argmax(diff))
            abs_d = float(diff.reshape(-1)[flat])
            rel_d = abs_d / scale
            ok = rel_d <= tol.rtol
            score = rel_d / tol.rtol if tol.rtol else (0.0 if abs_d == 0 else np.inf)
        elif tol.kind == "elementwise":
            allowed = np.maximum(tol.atol, tol.rtol * ref)
            ratio = diff / allowed
            flat = int(np.argmax(ratio))
            abs_d = float(diff.max())
            rel_d = float((diff / np.maximum(ref, np.finfo(np.float64).tiny)).reshape(-1)[flat]) if abs_d else 0.0
            score = float(ratio.reshape(-1)[flat])
            ok = score <= 1.0
        else:  # exact
            flat = int(np.argmax(diff))
            abs_d = float(diff.max())
            rel_d = 0.0 if abs_d == 0 else float("inf")
            score = abs_d
            ok = abs_d == 0
        passed &= bool(ok)
        worst_abs = max(worst_abs, abs_d)
        worst_rel = max(worst_rel, rel_d)
        if score > worst_score:
            worst_score, worst_key = score, f"{label}{key}{_index_text(x.shape, flat)}"
    return CheckResult(name, passed, worst_abs, worst_rel, tol.describe(), worst_key)


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------

def make_inputs(ir: ModelIR, batch_size: int = 8, seed: int = 0, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Standard-normal float32 features (times `scale`) for every model input."""
    rng = np.random.default_rng([seed, 1])
    return {name: (rng.standard_normal((batch_size, *ir.node(name).shape)) * scale).astype(np.float32)
            for name in ir.inputs}


def make_targets(ir: ModelIR, batch_size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Targets matching each output's target kind: sparse int64 labels, one-hot, 0/1, or normal values."""
    rng = np.random.default_rng([seed, 2])
    targets: dict[str, np.ndarray] = {}
    for out in ir.outputs:
        shape = (batch_size, *out.shape)
        if out.target == "sparse":
            targets[out.name] = rng.integers(0, out.shape[-1], size=shape[:-1]).astype(np.int64)
        elif out.target == "one_hot":
            labels = rng.integers(0, out.shape[-1], size=shape[:-1])
            targets[out.name] = np.eye(out.shape[-1], dtype=np.float32)[labels]
        elif out.target == "binary":
            targets[out.name] = rng.integers(0, 2, size=shape).astype(np.float32)
        else:
            targets[out.name] = rng.standard_normal(shape).astype(np.float32)
    return targets


def make_dropout_masks(ir: ModelIR, batch_size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """A 0/1 float32 keep mask (keep probability 1 − rate) for every dropout node."""
    rng = np.random.default_rng([seed, 3])
    return {n.name: (rng.random((batch_size, *n.shape)) >= n.attrs.rate).astype(np.float32)
            for n in ir.nodes if n.op == "dropout"}


def make_batch(ir: ModelIR, batch_size: int = 8, seed: int = 0) -> tuple[dict, dict, dict]:
    """(inputs, targets, dropout masks) for one batch."""
    return (make_inputs(ir, batch_size, seed), make_targets(ir, batch_size, seed),
            make_dropout_masks(ir, batch_size, seed))


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def check_param_counts(models: Sequence["CompiledModel"], ir: ModelIR, tol: Tolerance = DEFAULT_TOLERANCES["param_counts"]) -> CheckResult:
    """Every model's own per-node (trainable, non-trainable) counts against the IR's."""
    worst = 0
    worst_key = None
    details = []
    for model in models:
        counts = model.layer_param_counts()
        for node in ir.nodes:
            expected = (node.trainable_count, node.non_trainable_count)
            got = tuple(counts.get(node.name, (None, None)))
            if got != expected:
                off = max(abs((g or 0) - e) for g, e in zip(got, expected)) if None not in got else max(expected) + 1
                if off >= worst:
                    worst, worst_key = off, f"{model.backend_name}:{node.name}"
                details.append(f"{model.backend_name}:{node.name} has {got}, IR {expected}")
        extra = sorted(set(counts) - {n.name for n in ir.nodes})
        if extra:
            details.append(f"{model.backend_name} reports unknown nodes {extra}")
            worst_key = worst_key or f"{model.backend_name}:{extra[0]}"
    passed = not details
    return CheckResult("param_counts", passed, float(worst), 0.0 if passed else float("inf"), tol.describe(),
                       worst_key, "; ".join(details[:3]) + (" …" if len(details) > 3 else ""))


def _non_trainable_keys(ir: ModelIR) -> list[str]:
    return [key for key, _, p in ir.weight_specs() if not p.trainable]


def _has_loss(ir: ModelIR) -> bool:
    return any(o.loss is not None for o in ir.outputs)


def _skipped(name: str, tol: Tolerance, why: str) -> CheckResult:
    return CheckResult(name, True, 0.0, 0.0, tol.describe(), None, why, skipped=True)


def compare_models(
    a: "CompiledModel",
    b: "CompiledModel",
    *,
    inputs: Arrays | None = None,
    targets: Arrays | None = None,
    dropout_masks: Arrays | None = None,
    sample_weight: np.ndarray | None = None,
    weights: Arrays | None = None,
    batch_size: int = 8,
    seed: int = 0,
    tolerances: Mapping[str, Tolerance] | None = None,
) -> EquivalenceReport:
    """Run every check on two models of the same IR; both end with `weights` loaded.

    `weights` defaults to the first model's current weights.  Inputs, targets
    and dropout masks default to :func:`make_batch` (`batch_size`, `seed`).
    """
    ir = a.ir
    if a.ir.to_json() != b.ir.to_json():
        raise ValueError(f"the two models were built from different IRs ({a.ir.name!r} and {b.ir.name!r})")
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    gen_inputs, gen_targets, gen_masks = make_batch(ir, batch_size, seed)
    inputs = gen_inputs if inputs is None else inputs
    targets = gen_targets if targets is None else targets
    dropout_masks = gen_masks if dropout_masks is None else dropout_masks
    weights = {k: np.array(v, copy=True) for k, v in (weights if weights is not None else a.get_weights()).items()}

    def reset() -> None:
        a.set_weights(weights)
        b.set_weights(weights)

    report = EquivalenceReport(ir.name, (a.backend_name, b.backend_name))
    report.checks.append(check_param_counts((a, b), ir, tol["param_counts"]))

    reset()
    report.checks.append(compare_arrays("inference", a.forward(inputs, training=False),
                                        b.forward(inputs, training=False), tol["inference"]))

    reset()
    out_a = a.forward(inputs, training=True, dropout_masks=dropout_masks or None)
    out_b = b.forward(inputs, training=True, dropout_masks=dropout_masks or None)
    report.checks.append(compare_arrays("training_forward", out_a, out_b, tol["training_forward"]))

    stat_keys = _non_trainable_keys(ir)
    if stat_keys:
        report.checks.append(compare_arrays("moving_stats", a.get_weights(), b.get_weights(), tol["moving_stats"],
                                            keys=stat_keys))
    else:
        report.checks.append(_skipped("moving_stats", tol["moving_stats"], "no non-trainable weights"))

    if _has_loss(ir):
        reset()
        losses_a, grads_a = a.loss_and_gradients(inputs, targets, sample_weight=sample_weight, training=True,
                                                 dropout_masks=dropout_masks or None)
        losses_b, grads_b = b.loss_and_gradients(inputs, targets, sample_weight=sample_weight, training=True,
                                                 dropout_masks=dropout_masks or None)
        report.checks.append(compare_arrays("loss", {k: np.asarray(v) for k, v in losses_a.items()},
                                            {k: np.asarray(v) for k, v in losses_b.items()}, tol["loss"]))
        trainable = [key for key, _, p in ir.weight_specs() if p.trainable]
        report.checks.append(compare_arrays("gradients", grads_a, grads_b, tol["gradients"], keys=trainable))
    else:
        report.checks.append(_skipped("loss", tol["loss"], "no output has a loss"))
        report.checks.append(_skipped("gradients", tol["gradients"], "no output has a loss"))

    reset()
    return report


# ---------------------------------------------------------------------------
# Backends by name
# ---------------------------------------------------------------------------

def resolve_backend(backend: "str | Backend") -> "Backend":
    """A backend object from a registered name (through the plugin registry), checking that it is available."""
    if not isinstance(backend, str):
        return backend
    from ..plugins.manager import get_registry

    return get_registry().available_backend(backend)


def compare_backends(
    ir: ModelIR,
    first: "str | Backend",
    second: "str | Backend",
    *,
    weights: Arrays | None = None,
    seed: int = 0,
    batch_size: int = 8,
    **kwargs: Any,
) -> EquivalenceReport:
    """Build `ir` with two backends from the same canonical weights (default: dnnc's initial
    weights for `seed`) and compare them with :func:`compare_models`."""
    from ..compiler.initial_weights import initial_weights

    backend_a, backend_b = resolve_backend(first), resolve_backend(second)
    if weights is None:
        weights = initial_weights(ir, seed)
    model_a = backend_a.build(ir, weights)
    model_b = backend_b.build(ir, weights)
    return compare_models(model_a, model_b, weights=weights, seed=seed, batch_size=batch_size, **kwargs)
