"""dnnc activations (IR form, e.g. ``{"type": "leaky_relu", "negative_slope": 0.01}``) as stock Keras layers.

Parameter-free activations whose Keras function is exactly dnnc's formula are
used by name (``Activation("relu")``, or fused into ``Dense(activation=...)``).
Activations with parameters get the Keras layer that takes the parameter
explicitly: ``LeakyReLU(negative_slope=…)`` (the Keras layer default is 0.3,
dnnc's 0.01), ``ELU(alpha=…)``, ``Softmax(axis=-1)``.  Exact GELU is
``Activation("gelu")`` (Keras's ``gelu`` defaults to ``approximate=False``);
the tanh approximation has no stock layer and uses the registered function
``dnnc>gelu_tanh`` (:mod:`.custom_objects`).
"""

from __future__ import annotations

from typing import Any

from ..base import BackendError

#: dnnc name → Keras activation name with the identical, parameter-free formula.
PLAIN: dict[str, str] = {
    "linear": "linear",
    "relu": "relu",  # max(x, 0): Keras relu with negative_slope 0, no max_value, threshold 0
    "relu6": "relu6",
    "selu": "selu",
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",  # Keras 3: relu6(x + 3) / 6
    "tanh": "tanh",
    "softplus": "softplus",
    "softsign": "softsign",
    "swish": "silu",
    "silu": "silu",
    "mish": "mish",
}

#: Every dnnc activation this backend builds.
SUPPORTED: frozenset[str] = frozenset({*PLAIN, "leaky_relu", "elu", "gelu", "softmax"})


def fused_name(act: Any) -> str | None:
    """The Keras activation name to pass to ``Dense(activation=...)``, or None when a separate layer is needed."""
    kind = act.type
    if kind in PLAIN:
        return PLAIN[kind]
    if kind == "gelu" and not act.approximate:
        return "gelu"
    return None


def activation_layer(keras, act: Any, name: str):
    """A stock Keras layer computing `act` (every parameter explicit)."""
    kind = act.type
    layers = keras.layers
    if kind == "leaky_relu":
        return layers.LeakyReLU(negative_slope=act.negative_slope, name=name)
    if kind == "elu":
        return layers.ELU(alpha=act.alpha, name=name)
    if kind == "softmax":
        return layers.Softmax(axis=-1, name=name)
    if kind == "gelu":
        if act.approximate:
            from .custom_objects import gelu_tanh

            return layers.Activation(gelu_tanh, name=name)
        return layers.Activation("gelu", name=name)
    if kind in PLAIN:
        return layers.Activation(PLAIN[kind], name=name)
    raise BackendError(
        f"the keras backend does not support activation {kind!r} (supported: {', '.join(sorted(SUPPORTED))})"
    )
