"""Whether two backends' inspections agree, with the backend-against-backend measures and tolerances.

:func:`agreement` is the one place that decides; it uses the measures and
tolerances of :mod:`dnnc.conformance.pairwise` (the numeric conformance level
judges each backend against the float64 oracle instead; judging inspections
that way would need the oracle's per-layer probe):

* arrays of every shown layer — activations, pre-activations and weights with
  the outputs' tolerance, ``max|Δ| / max(scale, 1e-6)`` ≤ 1e-5, i.e. against the
  array's own scale: the numeric level's ``max(1, scale)`` would make that an
  absolute 1e-5 for hidden activations far below 1 (ReLU with N(0, 0.01²)
  weights: about 1e-5 in the fifth layer), accepting anything; ∂loss/∂output
  and ∂loss/∂parameter as gradients (``max|Δ| / max(scale, 1e-6)`` ≤ 1e-4);
* the statistics derived from them — (mean, std, min, max) of the activations
  and pre-activations as those, of the gradients as gradients, each gradient
  norm as a gradient (against its own size); the fractions of saturated
  values, of zeros and of dead units within 1e-5 absolute (at most one value
  in 100,000 on the other side of a threshold);
* the losses as losses (``|Δ| / max(|ref|, 1e-6)`` ≤ 1e-5).

Measured on the six ``examples/init_histograms_*.toml`` (keras against torch and
numpy): activations ≤ 1.6e-6, output gradients ≤ 1.7e-6 (docs/inspect.md).

A difference is a :class:`~dnnc.conformance.results.Check` with status FAIL at
level ``"inspect"``, reported like a conformance failure.
"""

from __future__ import annotations

from typing import Any

from ..conformance import pairwise as m
from ..conformance.results import Check
from .collect import Inspection
from .stats import inspection_stats

LEVEL = "inspect"
_STAT_KEYS = ("mean", "std", "min", "max")
_THRESHOLD_KEYS = (("saturated_fraction", "saturated fraction"), ("zero_fraction", "zero fraction"),
                   ("dead_fraction", "dead units"))


def agreement(reference: Inspection, other: Inspection) -> list[Check]:
    """Every comparison of `other` with `reference` (same model, weights and rows)."""
    b, r = other.backend, reference.backend
    if reference.rows != other.rows or [a.layer for a in reference.layers] != [a.layer for a in other.layers]:
        raise ValueError(f"the inspections of {b!r} and {r!r} do not cover the same rows and layers")
    checks: list[Check] = []

    def output(name: str, target: str, value: Any, expected: Any) -> None:
        checks.append(m.compare_array(LEVEL, name, b, r, target, value, expected, rtol=m.OUTPUT_RTOL,
                                      floor=m.GRADIENT_FLOOR, norm=m.gradient_norm()))

    def fraction(name: str, target: str, value: float, expected: float) -> None:
        checks.append(m.compare_array(LEVEL, name, b, r, target, [value], [expected],
                                      rtol=m.OUTPUT_RTOL, floor=1.0, norm=m.SCALED))

    def gradient(name: str, target: str, value: Any, expected: Any) -> None:
        checks.append(m.compare_array(LEVEL, name, b, r, target, value, expected, rtol=m.GRADIENT_RTOL,
                                      floor=m.GRADIENT_FLOOR, norm=m.gradient_norm()))

    def stats_vector(d: dict[str, float]) -> list[float]:
        return [d[k] for k in _STAT_KEYS]

    for key, value in reference.losses.items():
        checks.append(m.compare_loss(LEVEL, "loss", b, r, key, other.losses[key], value))
    ref_stats, other_stats = inspection_stats(reference), inspection_stats(other)
    for ra, oa, rs, os_ in zip(reference.layers, other.layers, ref_stats, other_stats):
        node = ra.layer.node
        output("activations", node, oa.activations, ra.activations)
        output("activation statistics", node, stats_vector(os_["activations"]), stats_vector(rs["activations"]))
        for key, name in _THRESHOLD_KEYS:
            if key in rs["activations"]:
                fraction(name, node, os_["activations"][key], rs["activations"][key])
        if ra.pre_activations is not None:
            output("pre-activations", node, oa.pre_activations, ra.pre_activations)
            output("pre-activation statistics", node, stats_vector(os_["pre_activations"]),
                   stats_vector(rs["pre_activations"]))
        gradient("output gradients", node, oa.output_gradient, ra.output_gradient)
        gradient("output gradient statistics", node, stats_vector(os_["output_gradient"]),
                 stats_vector(rs["output_gradient"]))
        gradient("gradient norms", node, [os_["output_gradient"]["norm"]], [rs["output_gradient"]["norm"]])
        for param, w in ra.weights.items():
            target = f"{node}/{param}"
            output("weights", target, oa.weights[param], w)
            if param in ra.gradients:
                gradient("parameter gradients", target, oa.gradients[param], ra.gradients[param])
                gradient("gradient norms", target, [os_["parameters"][param]["gradient"]["norm"]],
                         [rs["parameters"][param]["gradient"]["norm"]])
    return checks
