"""torch modules with dnnc semantics, one per IR op family.

Every hyperparameter comes from the IR; no torch default is relied on.  The
modules see the data channels-last, exactly as the IR describes it.

* :class:`Dense` / :class:`Maxout` hold a ``torch.nn.Linear`` whose weight is
  the transpose of dnnc's canonical kernel (``weight = kernel.T``).
* :class:`KerasBatchNorm` normalises the LAST axis of input of any rank with
  the batch mean and the *biased* batch variance, and updates
  ``moving = momentum·moving + (1 − momentum)·batch`` (biased variance), as
  Keras does; torch's own BatchNorm stores the unbiased variance instead.
* :class:`LayerNorm` is ``F.layer_norm`` over the last axis with the IR's epsilon.
* :class:`Dropout` is inverted dropout, ``y = x·mask/(1 − rate)``, with the mask
  either given from outside or drawn from the model's own generator.
* Activations take their parameters explicitly (:func:`activation_fn`).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _selu(x: torch.Tensor) -> torch.Tensor:
    # Written out (not F.selu) so that the gradient at exactly 0 is `scale`, as in TensorFlow.
    return torch.where(x < 0, (SELU_SCALE * SELU_ALPHA) * torch.expm1(x), SELU_SCALE * x)


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return F.hardsigmoid(x)  # relu6(x + 3) / 6, the Keras 3 definition


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return F.softplus(x, beta=1.0, threshold=20.0)


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def _relu6(x: torch.Tensor) -> torch.Tensor:
    return F.hardtanh(x, 0.0, 6.0)


#: IR activation type → (the typed IR activation → the function); every parameter comes from the IR.
ACTIVATIONS: dict[str, Callable[[Any], Callable[[torch.Tensor], torch.Tensor]]] = {
    "linear": lambda a: _identity,
    "relu": lambda a: torch.relu,
    "relu6": lambda a: _relu6,
    "leaky_relu": lambda a: partial(F.leaky_relu, negative_slope=a.negative_slope),
    "elu": lambda a: partial(F.elu, alpha=a.alpha),
    "selu": lambda a: _selu,
    "gelu": lambda a: partial(F.gelu, approximate="tanh" if a.approximate else "none"),
    "sigmoid": lambda a: torch.sigmoid,
    "hard_sigmoid": lambda a: _hard_sigmoid,
    "tanh": lambda a: torch.tanh,
    "softmax": lambda a: _softmax,
    "softplus": lambda a: _softplus,
    "softsign": lambda a: F.softsign,
    "swish": lambda a: F.silu,
    "silu": lambda a: F.silu,
    "mish": lambda a: F.mish,
}

def activation_fn(act: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function of an IR activation such as ``LeakyReluIR(type="leaky_relu", negative_slope=0.2)``."""
    if act.type not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act.type!r}; the torch backend knows {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[act.type](act)


def _describe(act: Any) -> str:
    extra = ", ".join(f"{k}={v}" for k, v in act.model_dump().items() if k != "type")
    return f"{act.type}({extra})" if extra else str(act.type)


class Activation(nn.Module):
    """An activation function as a module (no parameters)."""

    def __init__(self, act: Any) -> None:
        super().__init__()
        self.act_ir = act
        self.fn = activation_fn(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return _describe(self.act_ir)


# ---------------------------------------------------------------------------
# Layers with weights
# ---------------------------------------------------------------------------

class Dense(nn.Module):
    """y = activation(x @ kernel + bias) on the last axis; ``linear.weight`` is kernel.T."""

    def __init__(self, in_features: int, units: int, use_bias: bool, activation: Any) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, units, bias=use_bias)
        self.activation_ir = activation
        self.act = activation_fn(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(x))

    def extra_repr(self) -> str:
        return f"activation={_describe(self.activation_ir)}"


class Maxout(nn.Module):
    """Linear(in, units·pieces), then the max over each group of `pieces` consecutive outputs.

    ``amax`` splits the gradient evenly between tied maxima, as TensorFlow's ``reduce_max`` does.
    """

    def __init__(self, in_features: int, units: int, pieces: int, use_bias: bool) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces, bias=use_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return z.view(*z.shape[:-1], self.units, self.pieces).amax(-1)

    def extra_repr(self) -> str:
        return f"units={self.units}, pieces={self.pieces}"


class KerasBatchNorm(nn.Module):
    """Batch normalisation over the last axis with Keras semantics.

    Training mode: y = (x − μ_B)/sqrt(σ²_B + ε)·γ + β with the batch mean and the
    biased batch variance over every axis but the last, then
    ``moving = momentum·moving + (1 − momentum)·batch`` (biased variance).
    Inference mode uses the moving statistics.  ``gamma``/``beta`` exist only
    with ``scale``/``center``; the moving statistics are buffers.  With
    ``inference_mode`` (a frozen node) the module computes the inference
    formula in training mode too and never updates the moving statistics.
    """

    def __init__(self, channels: int, momentum: float, epsilon: float, center: bool, scale: bool,
                 inference_mode: bool) -> None:
        super().__init__()
        self.channels = channels
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.inference_mode = bool(inference_mode)
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.channels)
        if not self.training or self.inference_mode:
            y = F.batch_norm(flat, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0, self.epsilon)
        elif flat.shape[0] > 1:
            y = F.batch_norm(flat, None, None, self.gamma, self.beta, True, 0.0, self.epsilon)
            with torch.no_grad():
                self._update_moving(*self._moments(flat))
        else:  # one value per channel: torch's kernel refuses, Keras gives beta; use the formula itself
            mean, var = self._moments(flat)
            y = self._normalize(flat, mean, var)
            with torch.no_grad():
                self._update_moving(mean, var)
        return y.view(x.shape)

    @staticmethod
    def _moments(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Two passes, as tf.nn.moments: mean, then the mean of squared deviations (biased variance).
        # (torch.var_mean is ~8x slower on CPU for this layout.)
        mean = flat.mean(0)
        return mean, (flat - mean).square().mean(0)

    def _update_moving(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        m = self.momentum
        self.moving_mean.mul_(m).add_(mean, alpha=1.0 - m)
        self.moving_variance.mul_(m).add_(var, alpha=1.0 - m)

    def _normalize(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y

    def extra_repr(self) -> str:
        return (f"{self.channels}, momentum={self.momentum}, epsilon={self.epsilon}, "
                f"center={self.beta is not None}, scale={self.gamma is not None}"
                + (", inference_mode=True" if self.inference_mode else ""))


class LayerNorm(nn.Module):
    """Layer normalisation over the last axis (``F.layer_norm``: biased variance, ε inside the square root);
    ``gamma``/``beta`` exist only with ``scale``/``center``."""

    def __init__(self, channels: int, epsilon: float, center: bool, scale: bool) -> None:
        super().__init__()
        self.channels, self.epsilon = channels, float(epsilon)
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.channels,), self.gamma, self.beta, self.epsilon)

    def extra_repr(self) -> str:
        return (f"{self.channels}, epsilon={self.epsilon}, center={self.beta is not None}, "
                f"scale={self.gamma is not None}")


# ---------------------------------------------------------------------------
# Layers without weights
# ---------------------------------------------------------------------------

class Dropout(nn.Module):
    """Inverted dropout: y = x·mask/(1 − rate) in training mode, identity at inference.

    The keep mask is the one passed to :meth:`forward` if any, else drawn
    (Bernoulli(1 − rate)) from ``generator`` (the model's own, seeded from the spec).
    Its shape is :meth:`mask_shape` of the input's (the input's own for dropout).
    """

    def __init__(self, rate: float, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.rate = float(rate)
        self.generator = generator

    def mask_shape(self, shape: torch.Size) -> tuple[int, ...]:
        return tuple(shape)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training:
            return x
        if mask is not None:
            if tuple(mask.shape) != self.mask_shape(x.shape):
                raise ValueError(f"the dropout mask has shape {tuple(mask.shape)}; expected "
                                 f"{self.mask_shape(x.shape)} (the layer's mask shape with the batch axis)")
            if self.rate >= 1.0:
                return x * 0.0
            return x * mask.to(x.dtype) / (1.0 - self.rate)
        if self.rate == 0.0:
            return x
        if self.rate >= 1.0:
            return x * 0.0
        keep = self.draw_mask(self.mask_shape(x.shape), x.dtype, x.device)
        return x * keep / (1.0 - self.rate)

    def draws(self) -> bool:
        """Whether a training step draws a keep mask (not for rate 0 or ≥ 1)."""
        return 0.0 < self.rate < 1.0

    def draw_mask(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A keep mask (bool) of `shape` (the batch axis included) from the model's generator: what
        :meth:`forward` draws itself when given none (a compiled step draws it before the compiled code)."""
        # u < 1 − rate with u ~ U[0, 1) is Bernoulli(1 − rate) (and faster than bernoulli_ on CPU).
        return torch.rand(shape, generator=self.generator, dtype=dtype, device=device) < (1.0 - self.rate)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class SpatialDropout2D(Dropout):
    """Dropout of whole channels of (N, H, W, C) input: one mask value per sample and channel, (N, 1, 1, C)."""

    def mask_shape(self, shape: torch.Size) -> tuple[int, ...]:
        return (shape[0], 1, 1, shape[-1])


class Identity(nn.Module):
    """A model input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Reshape(nn.Module):
    """Row-major reshape of the features (batch axis kept)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}"


class Flatten(nn.Module):
    """Row-major flatten of every axis but the batch axis (channels-last, as Keras)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class Concatenate(nn.Module):
    """Concatenation along a (negative) feature axis."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        if axis >= 0:
            raise ValueError(f"concatenate axis must be negative in the IR (received {axis})")
        self.axis = int(axis)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


def _add(xs):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _multiply(xs):
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


def _maximum(xs):
    # TensorFlow's gradient convention: ties go to the left operand (where(a >= b, a, b)).
    out = xs[0]
    for x in xs[1:]:
        out = torch.where(out >= x, out, x)
    return out


def _minimum(xs):
    out = xs[0]
    for x in xs[1:]:
        out = torch.where(out <= x, out, x)
    return out


MERGES: dict[str, Callable[[tuple[torch.Tensor, ...]], torch.Tensor]] = {
    "add": _add,
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": _multiply,
    "average": lambda xs: _add(xs) / len(xs),
    "maximum": _maximum,
    "minimum": _minimum,
}


class Merge(nn.Module):
    """An element-wise merge of same-shape inputs (left fold, as Keras merges)."""

    def __init__(self, op: str) -> None:
        super().__init__()
        if op not in MERGES:
            raise ValueError(f"unknown merge {op!r}; known: {', '.join(sorted(MERGES))}")
        self.op = op
        self.fn = MERGES[op]

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(xs)

    def extra_repr(self) -> str:
        return self.op


__all__ = [
    "ACTIVATIONS", "Activation", "Concatenate", "Dense", "Dropout", "Flatten", "Identity", "KerasBatchNorm", "LayerNorm",
    "MERGES", "Maxout", "Merge", "Reshape", "SpatialDropout2D", "activation_fn",
]
