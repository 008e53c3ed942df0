"""Activation functions: the `activation = ...` key of dense/maxout layers and the activation layers.

Every parameter has dnnc's own documented default; none is left to a framework.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field

from .base import StrictModel, type_shorthand


class _Act(StrictModel):
    pass


class Linear(_Act):
    """Identity: f(x) = x."""

    type: Literal["linear"]


class Relu(_Act):
    """f(x) = max(x, 0); the gradient at 0 is 0."""

    type: Literal["relu"]


class Relu6(_Act):
    """f(x) = min(max(x, 0), 6)."""

    type: Literal["relu6"]


class LeakyRelu(_Act):
    """f(x) = x if x > 0 else negative_slope·x."""

    type: Literal["leaky_relu"]
    negative_slope: float = Field(
        0.01,
        ge=0,
        description="Slope for x < 0. dnnc default 0.01 (Keras's LeakyReLU layer uses 0.3, its activation 0.2, torch 0.01).",
    )


class Elu(_Act):
    """f(x) = x if x > 0 else alpha·(exp(x) − 1)."""

    type: Literal["elu"]
    alpha: float = Field(1.0, gt=0, description="Scale of the negative part (default 1.0).")


class Selu(_Act):
    """Scaled ELU with the fixed constants alpha = 1.6732632423543772, scale = 1.0507009873554805."""

    type: Literal["selu"]


class Gelu(_Act):
    """Gaussian error linear unit, x·Φ(x); `approximate = true` uses the tanh approximation."""

    type: Literal["gelu"]
    approximate: bool = Field(False, description="Use the tanh approximation (default false: the exact erf form).")


class Sigmoid(_Act):
    """f(x) = 1 / (1 + exp(−x))."""

    type: Literal["sigmoid"]


class HardSigmoid(_Act):
    """f(x) = relu6(x + 3) / 6 (the Keras 3 definition)."""

    type: Literal["hard_sigmoid"]


class Tanh(_Act):
    """Hyperbolic tangent."""

    type: Literal["tanh"]


class Softmax(_Act):
    """exp(x_i) / Σ_j exp(x_j) over the last axis."""

    type: Literal["softmax"]


class Softplus(_Act):
    """f(x) = log(1 + exp(x))."""

    type: Literal["softplus"]


class Softsign(_Act):
    """f(x) = x / (1 + |x|)."""

    type: Literal["softsign"]


class Swish(_Act):
    """f(x) = x·sigmoid(x) (also called SiLU)."""

    type: Literal["swish"]


class Silu(_Act):
    """Alias of swish: f(x) = x·sigmoid(x)."""

    type: Literal["silu"]


class Mish(_Act):
    """f(x) = x·tanh(softplus(x))."""

    type: Literal["mish"]


ACTIVATION_MODELS: list[type[StrictModel]] = [
    Linear, Relu, Relu6, LeakyRelu, Elu, Selu, Gelu, Sigmoid, HardSigmoid, Tanh,
    Softmax, Softplus, Softsign, Swish, Silu, Mish,
]

ACTIVATION_NAMES: tuple[str, ...] = tuple(m.model_fields["type"].annotation.__args__[0] for m in ACTIVATION_MODELS)

ActivationSpec = Annotated[
    Union[tuple(ACTIVATION_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(type_shorthand),
]
