"""The NumPy reference of the IR (dnnc.reference) as the tests' oracle: float64 values with float32 error bounds.

    ev = oracle(ir, weights, inputs, training=True, masks=masks)        # outputs and moving statistics
    ev = oracle(ir, weights, inputs, targets=targets)                    # + losses and gradients
    assert_within("inference", model.forward(inputs), ev.outputs)

`assert_within` is the numeric level's criterion (dnnc.conformance.measures): every element within its
float32 error bound of the float64 value; the message names the element, both values and the bound.
"""

from __future__ import annotations

from typing import Any, Mapping

from dnnc.conformance.measures import judge
from dnnc.reference import Evaluation, Reference


def oracle(ir, weights, inputs, *, training: bool = False, masks=None, targets=None, sample_weight=None,
           mode: str = "bounded") -> Evaluation:
    ref = Reference(ir, mode)
    if targets is None:
        return ref.forward(weights, inputs, training=training, dropout_masks=masks)
    return ref.loss_and_gradients(weights, inputs, targets, sample_weight=sample_weight, training=training,
                                  dropout_masks=masks)


def assert_within(what: str, got: Mapping[str, Any], want: Mapping[str, Any], factor: float = 1.0) -> None:
    """Every key of `want` is in `got` and every element lies within `factor` × its float32 bound."""
    assert set(want) <= set(got), f"{what}: missing {sorted(set(want) - set(got))}"
    failures = [c.message for key, expected in want.items()
                for c in [judge("test", what, "backend", key, got[key], expected, factor=factor)] if not c.passed]
    assert not failures, "\n".join(failures)
