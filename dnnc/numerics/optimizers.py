"""NumPy reference implementation of every dnnc optimizer (the test oracle).

One step, for the current learning rate lr (rounded to float32) and step
number t = 1, 2, ... (the number of updates so far, including this one):

1. clip the gradients (:mod:`dnnc.numerics.clipping`);
2. decoupled weight decay on every variable that has a gradient:
   w ← w − w·weight_decay·lr;
3. the optimizer's update rule (Keras 3 formulas, see docs/optimizers.md).

Optimizer state is kept in float64; the parameters keep their dtype and are
updated in place.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .clipping import clip_gradients

#: Optimizer type → its hyperparameters besides the learning rate, weight decay and clipping (the keys of the
#: IR's optimizer table a framework optimizer is given one by one).
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum", "nesterov"),
    "adam": ("beta_1", "beta_2", "epsilon", "amsgrad"),
    "adamw": ("beta_1", "beta_2", "epsilon", "amsgrad"),
    "nadam": ("beta_1", "beta_2", "epsilon"),
    "adamax": ("beta_1", "beta_2", "epsilon"),
    "rmsprop": ("rho", "momentum", "epsilon", "centered"),
    "adagrad": ("initial_accumulator_value", "epsilon"),
    "adadelta": ("rho", "epsilon"),
}


class ReferenceOptimizer:
    """Base class: clipping, weight decay and the step counter; subclasses define `_update`."""

    type: str = ""

    def __init__(self, config: Mapping[str, Any]) -> None:
        if config.get("type") != self.type:
            raise ValueError(f"{type(self).__name__} expects an optimizer of type {self.type!r}, received {config.get('type')!r}")
        self.config = dict(config)
        self.iterations = 0  # updates done so far
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def step(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray | None], lr: float) -> None:
        """Apply one update to `params` in place. Variables without a gradient (missing or None) are left alone."""
        lr = float(np.float32(lr))
        names = [n for n in params if grads.get(n) is not None]
        clipped = clip_gradients({n: grads[n] for n in names}, self.config)
        wd = self.config["weight_decay"]
        if wd:
            for n in names:
                w = params[n].astype(np.float64)
                params[n][...] = w - w * wd * lr
        t = self.iterations + 1
        self._begin_step(t)
        for n in names:
            st = self.state.setdefault(n, {})
            w = params[n].astype(np.float64)
            params[n][...] = self._update(st, w, clipped[n], lr, t)
        self.iterations = t

    def _begin_step(self, t: int) -> None:
        """Hook for per-step (not per-variable) state; Nadam's momentum product."""

    def _update(self, st: dict, w: np.ndarray, g: np.ndarray, lr: float, t: int) -> np.ndarray:
        raise NotImplementedError


def _zeros(st: dict, key: str, like: np.ndarray, value: float = 0.0) -> np.ndarray:
    if key not in st:
        st[key] = np.full(like.shape, value, dtype=np.float64)
    return st[key]


class SGD(ReferenceOptimizer):
    """m ← μm − lr·g; w ← w + m (Nesterov: w ← w + μm − lr·g); without momentum w ← w − lr·g."""

    type = "sgd"

    def _update(self, st, w, g, lr, t):
        mu = self.config["momentum"]
        if mu == 0:
            return w - lr * g
        m = _zeros(st, "momentum", w)
        m[...] = mu * m - lr * g
        if self.config["nesterov"]:
            return w + (mu * m - lr * g)
        return w + m


class Adam(ReferenceOptimizer):
    """m ← m + (g−m)(1−β1); v ← v + (g²−v)(1−β2); w ← w − lr·sqrt(1−β2^t)/(1−β1^t) · m/(sqrt(v)+ε)."""

    type = "adam"

    def _update(self, st, w, g, lr, t):
        b1, b2, eps = self.config["beta_1"], self.config["beta_2"], self.config["epsilon"]
        m, v = _zeros(st, "m", w), _zeros(st, "v", w)
        alpha = lr * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m += (g - m) * (1.0 - b1)
        v += (g * g - v) * (1.0 - b2)
        if self.config["amsgrad"]:
            v_hat = _zeros(st, "v_hat", w)
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        return w - m * alpha / (np.sqrt(v) + eps)


class AdamW(Adam):
    """Adam; only the default weight_decay differs."""

    type = "adamw"


class Nadam(ReferenceOptimizer):
    """Adam with Nesterov momentum and the schedule u_t = β1(1 − ½·0.96^t)."""

    type = "nadam"

    def __init__(self, config):
        super().__init__(config)
        self.u_product = 1.0  # Π_{s<=t} u_s

    def _u(self, t: int) -> float:
        return self.config["beta_1"] * (1.0 - 0.5 * 0.96**t)

    def _begin_step(self, t):
        self.u_product *= self._u(t)

    def _update(self, st, w, g, lr, t):
        b1, b2, eps = self.config["beta_1"], self.config["beta_2"], self.config["epsilon"]
        m, v = _zeros(st, "m", w), _zeros(st, "v", w)
        u_t, u_next = self._u(t), self._u(t + 1)
        prod_t = self.u_product
        prod_next = prod_t * u_next
        m += (g - m) * (1.0 - b1)
        v += (g * g - v) * (1.0 - b2)
        m_hat = u_next * m / (1.0 - prod_next) + (1.0 - u_t) * g / (1.0 - prod_t)
        v_hat = v / (1.0 - b2**t)
        return w - m_hat * lr / (np.sqrt(v_hat) + eps)


class Adamax(ReferenceOptimizer):
    """m ← m + (g−m)(1−β1); u ← max(β2·u, |g|); w ← w − lr·m / ((1−β1^t)(u+ε))."""

    type = "adamax"

    def _update(self, st, w, g, lr, t):
        b1, b2, eps = self.config["beta_1"], self.config["beta_2"], self.config["epsilon"]
        m, u = _zeros(st, "m", w), _zeros(st, "u", w)
        m += (g - m) * (1.0 - b1)
        u[...] = np.maximum(b2 * u, np.abs(g))
        return w - lr * m / ((1.0 - b1**t) * (u + eps))


class RMSprop(ReferenceOptimizer):
    """v ← ρv + (1−ρ)g²; inc = lr·g/sqrt(v + ε) (centered: v − ā² + ε); momentum: b ← μb + inc, w ← w − b."""

    type = "rmsprop"

    def _update(self, st, w, g, lr, t):
        rho, mu, eps = self.config["rho"], self.config["momentum"], self.config["epsilon"]
        v = _zeros(st, "v", w)
        v[...] = rho * v + (1.0 - rho) * g * g
        if self.config["centered"]:
            a = _zeros(st, "mean_grad", w)
            a[...] = rho * a + (1.0 - rho) * g
            denominator = v - a * a + eps
        else:
            denominator = v + eps
        increment = lr * g / np.sqrt(denominator)
        if mu > 0:
            b = _zeros(st, "momentum", w)
            b[...] = mu * b + increment
            return w - b
        return w - increment


class Adagrad(ReferenceOptimizer):
    """acc ← acc + g² (acc starts at initial_accumulator_value); w ← w − lr·g / sqrt(acc + ε)."""

    type = "adagrad"

    def _update(self, st, w, g, lr, t):
        acc = _zeros(st, "accumulator", w, self.config["initial_accumulator_value"])
        acc += g * g
        return w - lr * g / np.sqrt(acc + self.config["epsilon"])


class Adadelta(ReferenceOptimizer):
    """E[g²] ← ρE[g²] + (1−ρ)g²; Δ = sqrt(E[Δ²]+ε)/sqrt(E[g²]+ε)·g; E[Δ²] ← ρE[Δ²] + (1−ρ)Δ²; w ← w − lr·Δ."""

    type = "adadelta"

    def _update(self, st, w, g, lr, t):
        rho, eps = self.config["rho"], self.config["epsilon"]
        eg, ed = _zeros(st, "mean_sq_grad", w), _zeros(st, "mean_sq_delta", w)
        eg[...] = rho * eg + (1.0 - rho) * g * g
        delta = np.sqrt(ed + eps) / np.sqrt(eg + eps) * g
        ed[...] = rho * ed + (1.0 - rho) * delta * delta
        return w - lr * delta


REFERENCE_OPTIMIZERS: dict[str, type[ReferenceOptimizer]] = {
    cls.type: cls for cls in (SGD, Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad, Adadelta)
}
"""Optimizer type → NumPy reference class."""


def make_reference_optimizer(opt_ir: Mapping[str, Any]) -> ReferenceOptimizer:
    """The NumPy reference optimizer for an optimizer IR dict (the spec model's ``model_dump()``)."""
    kind = opt_ir.get("type")
    try:
        cls = REFERENCE_OPTIMIZERS[kind]
    except KeyError:
        raise ValueError(f"unknown optimizer type {kind!r}; known: {', '.join(sorted(REFERENCE_OPTIMIZERS))}") from None
    return cls(opt_ir)


def optimizer_state_names(opt_ir: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(slot names per trained parameter, scalar names besides ``iterations``) of an optimizer IR dict.

    The canonical optimizer state (``CompiledModel.optimizer_state``) after the first step holds, for every
    trained parameter ``<node>/<param>``, one array ``<node>/<param>/<slot>`` per slot name, ``iterations``
    and the scalars.
    """
    kind = opt_ir.get("type")
    if kind == "sgd":
        slots: tuple[str, ...] = ("momentum",) if opt_ir["momentum"] else ()
    elif kind in ("adam", "adamw"):
        slots = ("m", "v", "v_hat") if opt_ir["amsgrad"] else ("m", "v")
    elif kind == "nadam":
        slots = ("m", "v")
    elif kind == "adamax":
        slots = ("m", "u")
    elif kind == "rmsprop":
        slots = ("v",) + (("mean_grad",) if opt_ir["centered"] else ()) + (("momentum",) if opt_ir["momentum"] else ())
    elif kind == "adagrad":
        slots = ("accumulator",)
    elif kind == "adadelta":
        slots = ("mean_sq_grad", "mean_sq_delta")
    else:
        raise ValueError(f"unknown optimizer type {kind!r}; known: {', '.join(sorted(REFERENCE_OPTIMIZERS))}")
    return slots, (("u_product",) if kind == "nadam" else ())
