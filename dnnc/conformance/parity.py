"""Strict parity, measured: how closely do two backends follow one training trajectory?

With ``training.strict_parity`` the runner draws every dropout mask from the
seed (:mod:`dnnc.runner.dropout`) and the backends switch on deterministic
kernels, so — apart from float32 rounding, which differs between the
frameworks' kernels — the backends see the same batches, masks, learning
rates and initial weights.  :func:`measure_parity` trains the IR once per
backend with the shared runner and compares, at the end of each requested
epoch, the per-epoch history (loss, metrics, validation) and every weight
array with the first backend's.

Measures (Δ = backend − reference):

* history values: ``|Δ|`` (accuracy also in samples: ``|Δ| · rows``);
* weights: ``max|Δ| / max(1, max|ref|)`` per array (the worst array is
  reported) and the relative L2 norm over all weights, ``‖Δ‖₂ / ‖ref‖₂``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..compiler.ir import ModelIR
from .options import with_seed, with_strict_parity
from .pairwise import scaled_error

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from ..runner.datasets.containers import Datasets


@dataclass
class EpochAgreement:
    """The agreement of one backend with the reference at the end of one epoch (1-based)."""

    epoch: int
    history: dict[str, tuple[float, float]] = field(default_factory=dict)
    """key → (backend value, reference value)."""
    weights_error: float = 0.0
    worst_weight: str = ""
    weights_rel_l2: float = 0.0

    def diff(self, key: str) -> float:
        a, b = self.history[key]
        return abs(a - b)

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch,
                "history": {k: {"value": a, "reference": b, "abs_diff": abs(a - b)} for k, (a, b) in self.history.items()},
                "weights_error": self.weights_error, "worst_weight": self.worst_weight,
                "weights_rel_l2": self.weights_rel_l2}


@dataclass
class ParityResult:
    """Every compared backend's agreement with the reference, per measured epoch."""

    model: str
    reference: str
    rows: dict[str, int]
    epochs: list[int]
    agreement: dict[str, list[EpochAgreement]] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def max_diff(self, backend: str, key: str, upto: int | None = None) -> float:
        """The largest |Δ| of a history key over the measured epochs (up to epoch `upto`)."""
        values = [a.diff(key) for a in self.agreement[backend] if key in a.history and (upto is None or a.epoch <= upto)]
        return max(values) if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "reference": self.reference, "rows": self.rows, "epochs": self.epochs,
                "agreement": {b: [a.to_dict() for a in v] for b, v in self.agreement.items()},
                "test": self.test, "seconds": self.seconds}

    def markdown(self) -> list[str]:
        """A table per compared backend: per epoch, the history differences and the weight error."""
        lines: list[str] = []
        n_train, n_val = self.rows.get("train", 0), self.rows.get("validation", 0)
        for backend, rows in self.agreement.items():
            keys = sorted({k for a in rows for k in a.history}, key=lambda k: (k.startswith("val_"), k))
            lines += [f"`{backend}` vs `{self.reference}` ({n_train} training rows, {n_val} validation rows):", "",
                      "| epoch | " + " | ".join(f"Δ {k}" for k in keys) + " | weights max\\|Δ\\|/max(1,\\|ref\\|) "
                      "(worst array) | weights ‖Δ‖₂/‖ref‖₂ |",
                      "|--:|" + "--:|" * len(keys) + "--|--:|"]
            for a in rows:
                cells = []
                for k in keys:
                    if k not in a.history:
                        cells.append("-")
                        continue
                    d = a.diff(k)
                    if "accuracy" in k:
                        n = n_val if k.startswith("val_") else n_train
                        cells.append(f"{d:.2e} ({d * n:.1f} samples)")
                    else:
                        cells.append(f"{d:.2e}")
                lines.append(f"| {a.epoch} | " + " | ".join(cells) +
                             f" | {a.weights_error:.2e} ({a.worst_weight}) | {a.weights_rel_l2:.2e} |")
            lines.append("")
        for backend, t in self.test.items():
            if backend == self.reference:
                continue
            ref = self.test.get(self.reference, {})
            parts = [f"{k} {t[k]:.6f} vs {ref[k]:.6f} (Δ {abs(t[k] - ref[k]):.2e})" for k in sorted(t) if k in ref]
            if parts:
                lines.append(f"Test after epoch {self.epochs[-1]}, `{backend}` vs `{self.reference}`: " + "; ".join(parts) + ".")
        return lines


def _scaled(a: np.ndarray, ref: np.ndarray) -> float:
    """max|a − ref| / max(1, max|ref|)."""
    a64, r64 = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    if a64.size == 0:
        return 0.0
    return float(np.abs(a64 - r64).max() / max(1.0, float(np.abs(r64).max())))


def _snapshot_callback(epochs: set[int], store: dict[int, dict[str, np.ndarray]]):
    from ..runner.callbacks.base import Callback

    class Snapshot(Callback):
        """Keeps the weights at the end of the requested epochs (1-based)."""

        def on_epoch_end(self, epoch: int, logs: dict[str, float]):
            if epoch + 1 in epochs:
                store[epoch + 1] = {k: np.array(v, copy=True) for k, v in self.model.get_weights().items()}
            return None

    return Snapshot()


NOISE_FLOOR = " (1 ulp)"
"""Suffix of the noise-floor run: the reference restarted from weights one float32 ulp away."""


def measure_parity(ir: ModelIR, backends: Sequence["Backend"], datasets: "Datasets", epochs: Sequence[int], *,
                   seed: int | None = None, progress_for: Any = None, strict: bool = True,
                   noise_floor: bool = False) -> ParityResult:
    """Train `ir` with strict parity on each backend for max(`epochs`) epochs (one run each, the spec's
    callbacks included) and compare every backend with the first at the end of each epoch in `epochs`.

    ``strict=False`` measures the same without strict parity (each framework draws its own dropout
    masks), the control that shows what strict parity buys.  ``noise_floor=True`` adds the reference
    backend once more, started from dnnc's initial weights moved by one float32 ulp
    (:func:`dnnc.conformance.drift.ulp_perturbed`), compared as ``"<reference> (1 ulp)"``: how far
    float32 rounding alone carries one framework from itself."""
    from ..compiler.initial_weights import initial_weights
    from .drift import ulp_perturbed
    from .training import train_with_runner

    if strict:
        ir = with_strict_parity(ir)
    seed = ir.training.seed if seed is None else int(seed)
    wanted = sorted({int(e) for e in epochs})
    last = wanted[-1]
    runs = [(b.name, b, None) for b in backends]
    if noise_floor:
        runs.append((backends[0].name + NOISE_FLOOR, backends[0],
                     ulp_perturbed(initial_weights(with_seed(ir, seed), seed), seed)))
    histories, weights, tests, seconds = {}, {}, {}, {}
    for name, backend, start in runs:
        store: dict[int, dict[str, np.ndarray]] = {}
        started = time.perf_counter()
        history = train_with_runner(ir, backend, datasets, seed=seed, epochs=last, weights=start,
                                    progress=progress_for(name) if progress_for else None,
                                    callbacks=[_snapshot_callback(set(wanted), store)])
        seconds[name] = round(time.perf_counter() - started, 2)
        histories[name], weights[name], tests[name] = history, store, dict(history.test)
    reference = backends[0].name
    rows = {"train": datasets.train.n,
            "validation": datasets.validation.n if datasets.validation is not None else 0,
            "test": datasets.test.n if datasets.test is not None else 0}
    result = ParityResult(ir.name, reference, rows, wanted, test=tests, seconds=seconds)
    ref_h = histories[reference]
    for name, _, _ in runs[1:]:
        h = histories[name]
        out = []
        for e in wanted:
            if e not in weights[name] or e not in weights[reference]:
                continue  # training stopped early
            i_a, i_b = h.epochs.index(e - 1), ref_h.epochs.index(e - 1)
            agreement = EpochAgreement(e)
            for key, values in ref_h.history.items():
                if key in h.history and values[i_b] is not None and h.history[key][i_a] is not None:
                    agreement.history[key] = (float(h.history[key][i_a]), float(values[i_b]))
            wa, wb = weights[name][e], weights[reference][e]
            worst, worst_key, num, den = 0.0, "", 0.0, 0.0
            for key in wb:
                err = _scaled(wa[key], wb[key])
                if err >= worst:
                    worst, worst_key = err, key
                d = np.asarray(wa[key], np.float64) - np.asarray(wb[key], np.float64)
                num += float((d * d).sum())
                den += float((np.asarray(wb[key], np.float64) ** 2).sum())
            agreement.weights_error, agreement.worst_weight = worst, worst_key
            agreement.weights_rel_l2 = math.sqrt(num / den) if den else 0.0
            out.append(agreement)
        result.agreement[name] = out
    return result
