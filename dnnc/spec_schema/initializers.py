"""Weight initializers (`kernel_init`, `bias_init`).

The formulas are dnnc's own and the compiler draws every initial array itself
(see :mod:`dnnc.compiler.initial_weights`); the "normal" members of the
Glorot/He/LeCun families are truncated at two standard deviations and rescaled
so that the drawn values have the nominal standard deviation (as in Keras).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field, model_validator

from .base import Float32, StrictModel, type_shorthand


class Zeros(StrictModel):
    """All zeros."""

    type: Literal["zeros"]


class Ones(StrictModel):
    """All ones."""

    type: Literal["ones"]


class Constant(StrictModel):
    """Every element equal to `value`."""

    type: Literal["constant"]
    value: Float32 = Field(0.0, description="The constant (default 0.0).")


class RandomNormal(StrictModel):
    """Untruncated normal N(mean, stddev²)."""

    type: Literal["random_normal"]
    mean: Float32 = Field(0.0, description="Mean (default 0.0).")
    stddev: Float32 = Field(0.05, gt=0, description="Standard deviation (default 0.05).")


class RandomUniform(StrictModel):
    """Uniform on [minval, maxval)."""

    type: Literal["random_uniform"]
    minval: Float32 = Field(-0.05, description="Lower bound (default −0.05).")
    maxval: Float32 = Field(0.05, description="Upper bound (default 0.05).")

    @model_validator(mode="after")
    def _check_bounds(self):
        if self.maxval <= self.minval:
            raise ValueError(f"maxval must be > minval (received minval={self.minval}, maxval={self.maxval})")
        return self


class TruncatedNormal(StrictModel):
    """N(mean, stddev²) with values beyond two stddev from the mean re-drawn."""

    type: Literal["truncated_normal"]
    mean: Float32 = Field(0.0, description="Mean (default 0.0).")
    stddev: Float32 = Field(0.05, gt=0, description="Standard deviation before truncation (default 0.05).")


class VarianceScaling(StrictModel):
    """The general family behind Glorot, He and LeCun: variance scale/n."""

    type: Literal["variance_scaling"]
    scale: Float32 = Field(1.0, gt=0, description="Variance scale (default 1.0).")
    mode: Literal["fan_in", "fan_out", "fan_avg"] = Field("fan_in", description="Which fan is n (default fan_in).")
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform"] = Field(
        "truncated_normal", description="Distribution (default truncated_normal)."
    )


def _family(name: str, doc: str) -> type[StrictModel]:
    return type(
        "".join(p.capitalize() for p in name.split("_")),
        (StrictModel,),
        {"__doc__": doc, "__annotations__": {"type": Literal[name]}, "__module__": __name__},
    )


GlorotNormal = _family("glorot_normal", "Truncated normal with std sqrt(2 / (fan_in + fan_out)).")
GlorotUniform = _family("glorot_uniform", "Uniform on ±sqrt(6 / (fan_in + fan_out)).")
HeNormal = _family("he_normal", "Truncated normal with std sqrt(2 / fan_in).")
HeUniform = _family("he_uniform", "Uniform on ±sqrt(6 / fan_in).")
LecunNormal = _family("lecun_normal", "Truncated normal with std sqrt(1 / fan_in).")
LecunUniform = _family("lecun_uniform", "Uniform on ±sqrt(3 / fan_in).")

class Orthogonal(StrictModel):
    """gain·Q, Q with orthonormal rows or columns (the QR factor of a standard normal matrix, signs fixed by
    diag(R), as Keras draws it); for parameters of rank ≥ 2 (the default recurrent kernel of lstm and gru)."""

    type: Literal["orthogonal"]
    gain: Float32 = Field(1.0, gt=0, description="Multiplier of the orthogonal matrix (default 1.0).")


INITIALIZER_MODELS: list[type[StrictModel]] = [
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform, Orthogonal,
]

InitializerSpec = Annotated[
    Union[tuple(INITIALIZER_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(type_shorthand),
]
