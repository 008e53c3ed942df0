"""One class per IR op, each with a forward pass and its backward pass.

Every layer follows the same small protocol (the style of from-scratch lecture code):

``forward(xs, training, mask) -> (y, cache)``
    ``xs`` is the list of input arrays (batch axis first); ``cache`` keeps what
    the backward pass needs.
``backward(dy, cache, need_dx) -> (dxs, dparams)``
    ``dy`` is ∂L/∂y; returns ∂L/∂x for each input (``None`` where ``need_dx`` is
    false, to skip useless work such as the gradient of the data) and
    ``{param name: ∂L/∂param}``.

Parameters live in the model's canonical weight dict; a layer receives the
arrays of its node (``{"kernel": array, ...}``) and reads them at every call,
so an optimizer that updates them in place is seen immediately.

Conventions (dnnc's IR, ``dnnc/compiler/ir.py``):

* dense: ``y = act(x @ kernel + bias)``, kernel (in, units);
* maxout: ``z = x @ kernel + bias``, output j = max(z[j·p … j·p + p − 1]); tied
  maxima share the gradient evenly (as TF's reduce_max and torch's amax);
* batch_norm: last axis; training uses the batch mean and the *biased* batch
  variance and updates ``moving = m·moving + (1 − m)·batch``; inference uses
  the moving statistics;
* dropout: inverted, ``y = x·mask/(1 − rate)``; the keep mask is the one given
  by the caller, or drawn from the model's own Generator (seeded from the
  spec's seed);
* maximum/minimum fold left with ``where(a >= b, a, b)``: ties go to the left
  operand (TensorFlow's convention).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from dnnc.compiler.ir import ModelIR, NodeIR

from .activations import make_activation

Arrays = list[np.ndarray]


class Layer:
    """Base class: a node of the graph (subclasses define forward and backward)."""

    op = ""

    def __init__(self, node: NodeIR, params: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        self.node = node
        self.params = params

    def forward(self, xs: Arrays, training: bool, mask: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, cache: Any, need_dx: Sequence[bool]) -> tuple[list, dict[str, np.ndarray]]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.op


class Input(Layer):
    op = "input"

    def forward(self, xs, training, mask=None):
        return xs[0], None

    def backward(self, dy, cache, need_dx):
        return [dy], {}


# ---------------------------------------------------------------------------
# Layers with weights
# ---------------------------------------------------------------------------

def _linear_forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    z = x @ kernel
    if bias is not None:
        z += bias
    return z


def _linear_backward(x, kernel, has_bias: bool, dz, need_dx: bool):
    """z = x @ K + b  ⇒  ∂K = xᵀ·dz, ∂b = Σ_rows dz, ∂x = dz·Kᵀ (leading axes folded into rows)."""
    x2 = x.reshape(-1, x.shape[-1])
    dz2 = dz.reshape(-1, dz.shape[-1])
    grads = {"kernel": x2.T @ dz2}
    if has_bias:
        grads["bias"] = dz2.sum(axis=0)
    dx = dz @ kernel.T if need_dx else None
    return dx, grads


class Dense(Layer):
    """y = activation(x @ kernel + bias)."""

    op = "dense"

    def __init__(self, node, params, rng):
        super().__init__(node, params, rng)
        self.kernel = params["kernel"]
        self.bias = params.get("bias") if node.attrs.use_bias else None
        self.act = make_activation(node.attrs.activation)
        self.linear = self.act.name == "linear"

    def forward(self, xs, training, mask=None):
        x = xs[0]
        z = _linear_forward(x, self.kernel, self.bias)
        if self.linear:
            return z, (x, z, z)
        y = self.act.forward(z)
        return y, (x, z, y)

    def backward(self, dy, cache, need_dx):
        x, z, y = cache
        dz = dy if self.linear else self.act.backward(z, y, dy)
        dx, grads = _linear_backward(x, self.kernel, self.bias is not None, dz, need_dx[0])
        return [dx], grads

    def describe(self):
        extra = f", {self.act.description}" if self.act.description else ""
        return f"dense(units={self.kernel.shape[1]}, use_bias={self.bias is not None}, activation={self.act.name}{extra})"


class Maxout(Layer):
    """z = x @ kernel + bias, grouped in `pieces` consecutive values; y = max over each group."""

    op = "maxout"

    def __init__(self, node, params, rng):
        super().__init__(node, params, rng)
        self.units, self.pieces = node.attrs.units, node.attrs.pieces
        self.kernel = params["kernel"]
        self.bias = params.get("bias") if node.attrs.use_bias else None

    def forward(self, xs, training, mask=None):
        x = xs[0]
        z = _linear_forward(x, self.kernel, self.bias)
        zg = z.reshape(*z.shape[:-1], self.units, self.pieces)
        y = zg.max(axis=-1)
        return y, (x, zg, y)

    def backward(self, dy, cache, need_dx):
        x, zg, y = cache
        winners = zg == y[..., None]                      # every tied maximum wins...
        share = winners / winners.sum(axis=-1, keepdims=True)  # ...and gets an equal share
        dz = (dy[..., None] * share).astype(dy.dtype).reshape(*dy.shape[:-1], self.units * self.pieces)
        dx, grads = _linear_backward(x, self.kernel, self.bias is not None, dz, need_dx[0])
        return [dx], grads

    def describe(self):
        return f"maxout(units={self.units}, pieces={self.pieces}, use_bias={self.bias is not None})"


class BatchNorm(Layer):
    """Batch normalisation over the last axis (Keras semantics, biased moving variance)."""

    op = "batch_norm"

    def __init__(self, node, params, rng):
        super().__init__(node, params, rng)
        a = node.attrs  # axis is −1, the only axis the IR allows
        self.momentum, self.epsilon = a.momentum, a.epsilon
        self.gamma = params.get("gamma") if a.scale else None
        self.beta = params.get("beta") if a.center else None
        self.moving_mean, self.moving_variance = params["moving_mean"], params["moving_variance"]
        #: a frozen node: the inference formula in training mode too, moving statistics never updated
        self.inference_mode = a.inference_mode

    def forward(self, xs, training, mask=None):
        x = xs[0]
        c = x.shape[-1]
        x2 = x.reshape(-1, c)
        training = training and not self.inference_mode
        if training:
            # Batch statistics, accumulated in float64 (as torch does on CPU), biased variance.
            mean64 = x2.mean(axis=0, dtype=np.float64)
            var64 = x2.var(axis=0, dtype=np.float64)
            mean, var = mean64.astype(x.dtype), var64.astype(x.dtype)
            m = self.momentum
            self.moving_mean *= m
            self.moving_mean += (1.0 - m) * mean.astype(self.moving_mean.dtype)
            self.moving_variance *= m
            self.moving_variance += (1.0 - m) * var.astype(self.moving_variance.dtype)
        else:
            mean, var = self.moving_mean.astype(x.dtype), self.moving_variance.astype(x.dtype)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (x2 - mean) * inv_std
        y = xhat
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y.reshape(x.shape), (xhat, inv_std, training, x.shape)

    def backward(self, dy, cache, need_dx):
        xhat, inv_std, training, shape = cache
        dy2 = dy.reshape(-1, shape[-1])
        grads = {}
        if self.gamma is not None:
            grads["gamma"] = (dy2 * xhat).sum(axis=0)
        if self.beta is not None:
            grads["beta"] = dy2.sum(axis=0)
        dx = None
        if need_dx[0]:
            dxhat = dy2 if self.gamma is None else dy2 * self.gamma
            if training:
                # The batch statistics depend on x too:
                # ∂x = inv_std/M · (M·∂x̂ − Σ∂x̂ − x̂·Σ(∂x̂·x̂)), sums over the M rows.
                m = dy2.shape[0]
                dx = (inv_std / m) * (m * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
            else:
                dx = dxhat * inv_std
            dx = dx.reshape(shape)
        return [dx], grads

    def describe(self):
        return (f"batch_norm(momentum={self.momentum}, epsilon={self.epsilon}, "
                f"center={self.beta is not None}, scale={self.gamma is not None}"
                + (", inference_mode=True)" if self.inference_mode else ")"))


# ---------------------------------------------------------------------------
# Layers without weights
# ---------------------------------------------------------------------------

class Dropout(Layer):
    """Inverted dropout in training mode; the identity at inference."""

    op = "dropout"

    def __init__(self, node, params, rng):
        super().__init__(node, params, rng)
        self.rate = node.attrs.rate
        self.rng = rng

    def forward(self, xs, training, mask=None):
        x = xs[0]
        if not training:
            return x, None
        if self.rate >= 1.0:
            return x * 0.0, 0.0
        if mask is not None:
            if np.shape(mask) != x.shape:
                raise ValueError(f"dropout mask for {self.node.name!r} has shape {np.shape(mask)}, "
                                 f"expected {x.shape} (the batch and the layer's output shape)")
            keep = np.asarray(mask, dtype=x.dtype)
        elif self.rate == 0.0:
            return x, None
        else:
            keep = (self.rng.random(x.shape) < 1.0 - self.rate).astype(x.dtype)  # Bernoulli(1 − rate)
        return x * keep / (1.0 - self.rate), keep

    def backward(self, dy, keep, need_dx):
        if keep is None:
            return [dy], {}
        if self.rate >= 1.0:
            return [dy * 0.0], {}
        return [dy * keep / (1.0 - self.rate)], {}

    def describe(self):
        return f"dropout(rate={self.rate})"


class ActivationLayer(Layer):
    """An activation function as a layer."""

    op = "activation"

    def __init__(self, node, params, rng):
        super().__init__(node, params, rng)
        self.act = make_activation(node.attrs.activation)

    def forward(self, xs, training, mask=None):
        x = xs[0]
        y = self.act.forward(x)
        return y, (x, y)

    def backward(self, dy, cache, need_dx):
        x, y = cache
        return [self.act.backward(x, y, dy)], {}

    def describe(self):
        extra = f"({self.act.description})" if self.act.description else ""
        return f"activation {self.act.name}{extra}"


class Flatten(Layer):
    """Row-major flatten of every axis but the batch axis."""

    op = "flatten"

    def forward(self, xs, training, mask=None):
        x = xs[0]
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dy, shape, need_dx):
        return [dy.reshape(shape)], {}


class Reshape(Flatten):
    """Row-major reshape of the features (batch axis kept)."""

    op = "reshape"

    def __init__(self, node, params, rng):
        super().__init__(node, params, rng)
        self.shape = tuple(node.attrs.shape)

    def forward(self, xs, training, mask=None):
        x = xs[0]
        return x.reshape(x.shape[0], *self.shape), x.shape

    def describe(self):
        return f"reshape(shape={list(self.shape)})"


class Concatenate(Layer):
    """Concatenation along a negative feature axis; the backward pass splits dy back."""

    op = "concatenate"

    def __init__(self, node, params, rng):
        super().__init__(node, params, rng)
        self.axis = node.attrs.axis
        if self.axis >= 0:
            raise ValueError(f"concatenate axis must be negative in the IR (received {self.axis})")

    def forward(self, xs, training, mask=None):
        return np.concatenate(xs, axis=self.axis), np.cumsum([x.shape[self.axis] for x in xs])[:-1]

    def backward(self, dy, splits, need_dx):
        return np.split(dy, splits, axis=self.axis), {}

    def describe(self):
        return f"concatenate(axis={self.axis})"


class Add(Layer):
    """y = x₁ + x₂ + …: the gradient flows unchanged to every input."""

    op = "add"

    def forward(self, xs, training, mask=None):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y, len(xs)

    def backward(self, dy, n, need_dx):
        return [dy] * n, {}


class Average(Layer):
    """y = (x₁ + … + xₙ)/n."""

    op = "average"

    def forward(self, xs, training, mask=None):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / len(xs), len(xs)

    def backward(self, dy, n, need_dx):
        return [dy / n] * n, {}


class Subtract(Layer):
    """y = x₁ − x₂."""

    op = "subtract"

    def forward(self, xs, training, mask=None):
        return xs[0] - xs[1], None

    def backward(self, dy, cache, need_dx):
        return [dy, -dy], {}


class Multiply(Layer):
    """y = ((x₁·x₂)·x₃)…, a left fold; backward walks the fold from the right."""

    op = "multiply"

    def forward(self, xs, training, mask=None):
        partial = [xs[0]]  # partial[k] = x₁·…·x_{k+1}
        for x in xs[1:]:
            partial.append(partial[-1] * x)
        return partial[-1], (xs, partial)

    def backward(self, dy, cache, need_dx):
        xs, partial = cache
        dxs = [None] * len(xs)
        d = dy  # ∂L/∂partial[k], from the last fold step down
        for k in range(len(xs) - 1, 0, -1):
            dxs[k] = d * partial[k - 1]
            d = d * xs[k]
        dxs[0] = d
        return dxs, {}


class _Select(Layer):
    """Left fold of a pairwise selection; each step's gradient goes to the selected operand."""

    def _pick_left(self, a, b):
        raise NotImplementedError

    def forward(self, xs, training, mask=None):
        y = xs[0]
        picks = []  # picks[k] is True where the running value (left) beats xs[k+1]
        for x in xs[1:]:
            left = self._pick_left(y, x)
            picks.append(left)
            y = np.where(left, y, x)
        return y, picks

    def backward(self, dy, picks, need_dx):
        dxs = [None] * (len(picks) + 1)
        d = dy  # gradient of the running value
        for k in range(len(picks) - 1, -1, -1):
            dxs[k + 1] = np.where(picks[k], 0.0, d).astype(dy.dtype, copy=False)
            d = np.where(picks[k], d, 0.0).astype(dy.dtype, copy=False)
        dxs[0] = d
        return dxs, {}


class Maximum(_Select):
    op = "maximum"

    def _pick_left(self, a, b):
        return a >= b


class Minimum(_Select):
    op = "minimum"

    def _pick_left(self, a, b):
        return a <= b


LAYERS: dict[str, type[Layer]] = {
    cls.op: cls
    for cls in (Input, Dense, Maxout, BatchNorm, Dropout, ActivationLayer, Flatten, Reshape, Concatenate,
                Add, Subtract, Multiply, Average, Maximum, Minimum)
}
"""IR op → layer class.  Its keys are exactly ``NumpyBackend.supported_ops``."""


def make_layer(node: NodeIR, ir: ModelIR, params: dict[str, np.ndarray], rng: np.random.Generator) -> Layer:
    """The layer of one IR node."""
    cls = LAYERS.get(node.op)
    if cls is None:
        raise ValueError(f"the numpy backend has no implementation of op {node.op!r} (node {node.name!r}); "
                         f"supported: {', '.join(sorted(LAYERS))}")
    return cls(node, params, rng)
