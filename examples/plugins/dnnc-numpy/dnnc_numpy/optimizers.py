"""dnnc's optimizers (the Keras 3 update rules), written out in NumPy.

One step, with the learning rate lr given by dnnc for this update (rounded to
float32) and t = number of updates including this one:

1. clip the gradients (at most one option is set):
   ``clipnorm`` c, per variable: g ← g·c / max(‖g‖, c);
   ``global_clipnorm`` c: g ← g·c / max(‖G‖, c), ‖G‖ = sqrt(Σ‖g‖²) over all
   variables (a non-finite ‖G‖ makes every gradient NaN, as Keras does);
   ``clipvalue`` c: g ← clip(g, −c, c);
2. decoupled weight decay on every trainable variable: w ← w − w·wd·lr;
3. the update rule:

=========  =====================================================================
sgd        m ← μm − lr·g; w ← w + m (nesterov: w ← w + μm − lr·g); μ = 0: w ← w − lr·g
adam(w)    m ← m + (g − m)(1 − β1); v ← v + (g² − v)(1 − β2) (amsgrad: v̂ = max(v̂, v));
           w ← w − lr·sqrt(1 − β2ᵗ)/(1 − β1ᵗ) · m/(sqrt(v) + ε)
nadam      u_t = β1(1 − ½·0.96ᵗ); m, v as adam;
           m̂ = u_{t+1}·m/(1 − Π_{≤t+1}u) + (1 − u_t)·g/(1 − Π_{≤t}u); v̂ = v/(1 − β2ᵗ);
           w ← w − lr·m̂/(sqrt(v̂) + ε)
adamax     m as adam; u ← max(β2·u, |g|); w ← w − lr·m/((1 − β1ᵗ)(u + ε))
rmsprop    v ← ρv + (1 − ρ)g²; (centered: a ← ρa + (1 − ρ)g, den = v − a² + ε; else den = v + ε);
           inc = lr·g/sqrt(den); momentum: b ← μb + inc, w ← w − b; else w ← w − inc
adagrad    acc ← acc + g² (acc starts at initial_accumulator_value); w ← w − lr·g/sqrt(acc + ε)
adadelta   E[g²] ← ρE[g²] + (1 − ρ)g²; Δ = sqrt(E[Δ²] + ε)/sqrt(E[g²] + ε)·g;
           E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ²; w ← w − lr·Δ
=========  =====================================================================

Parameters and slots are float32 arrays updated in place; scalar factors
(bias corrections, Nadam's momentum product) are Python floats (float64);
gradient norms are accumulated in float64.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np


class Optimizer:
    """Base class: clipping, decoupled weight decay, the step counter and the slots."""

    type = ""
    hyperparameters: tuple[str, ...] = ()

    def __init__(self, config: Mapping[str, Any]) -> None:
        missing = [k for k in ("weight_decay", *self.hyperparameters) if k not in config]
        if missing:
            raise ValueError(f"optimizer {self.type!r} needs explicit {', '.join(missing)} (received {dict(config)})")
        clips = [k for k in ("clipnorm", "global_clipnorm", "clipvalue") if config.get(k) is not None]
        if len(clips) > 1:
            raise ValueError(f"only one of clipnorm, global_clipnorm and clipvalue may be set (received {', '.join(clips)})")
        self.config = dict(config)
        self.weight_decay = float(config["weight_decay"])
        self.clipnorm = config.get("clipnorm")
        self.global_clipnorm = config.get("global_clipnorm")
        self.clipvalue = config.get("clipvalue")
        self.iterations = 0
        #: parameter key → slot name → array (same shape and dtype as the parameter)
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    # -- the three stages of a step --------------------------------------------
    def clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            c = float(self.clipnorm)
            return [g * (c / max(math.sqrt(float(np.sum(np.square(g, dtype=np.float64)))), c)) for g in grads]
        if self.global_clipnorm is not None:
            c = float(self.global_clipnorm)
            norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
            scale = c / max(norm, c) if math.isfinite(norm) else math.nan
            return [g * scale for g in grads]
        if self.clipvalue is not None:
            c = float(self.clipvalue)
            return [np.clip(g, -c, c) for g in grads]
        return grads

    def step(self, params: list[tuple[str, np.ndarray]], grads: list[np.ndarray], lr: float) -> None:
        """Update every parameter in place with its gradient (same order as `params`)."""
        lr = float(np.float32(lr))
        grads = self.clip(grads)
        if self.weight_decay:
            for _, w in params:
                w -= w * (self.weight_decay * lr)
        t = self.iterations + 1
        self.begin_step(t)
        for (key, w), g in zip(params, grads):
            self.update(self.slots.setdefault(key, {}), w, g, lr, t)
        self.iterations = t

    def begin_step(self, t: int) -> None:
        """Per-step (not per-variable) state: Nadam's momentum product."""

    def update(self, slots: dict[str, np.ndarray], w: np.ndarray, g: np.ndarray, lr: float, t: int) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """``"<node>/<param>/<slot>"`` → a copy of the slot, ``"iterations"`` and :meth:`scalars`; empty before
        the first step."""
        if not self.iterations:
            return {}
        out = {f"{key}/{name}": a.copy() for key, slots in self.slots.items() for name, a in slots.items()}
        out["iterations"] = np.asarray(self.iterations, dtype=np.int64)
        out.update({k: np.asarray(v, dtype=np.float64) for k, v in self.scalars().items()})
        return out

    def scalars(self) -> dict[str, float]:
        """Per-optimizer state besides the iteration count (Nadam: its momentum product)."""
        return {}

    def load_state(self, slots: Mapping[str, Mapping[str, np.ndarray]], scalars: Mapping[str, Any], dtype) -> None:
        """Restore slots and scalars (checked by dnnc.backends.base.split_optimizer_state; empty: a fresh optimizer)."""
        self.slots = {key: {name: np.array(a, dtype=dtype, copy=True) for name, a in values.items()}
                      for key, values in slots.items()}
        scalars = dict(scalars)
        self.iterations = int(scalars.pop("iterations", 0))
        self.load_scalars({k: float(v) for k, v in scalars.items()})

    def load_scalars(self, scalars: Mapping[str, float]) -> None:
        pass


def _slot(slots: dict, name: str, like: np.ndarray, value: float = 0.0) -> np.ndarray:
    if name not in slots:
        slots[name] = np.full_like(like, value)
    return slots[name]


class SGD(Optimizer):
    type = "sgd"
    hyperparameters = ("momentum", "nesterov")

    def update(self, slots, w, g, lr, t):
        mu = self.config["momentum"]
        if mu == 0:
            w -= g * lr
            return
        m = _slot(slots, "momentum", w)
        m[...] = m * mu - g * lr
        if self.config["nesterov"]:
            w += m * mu - g * lr
        else:
            w += m


class Adam(Optimizer):
    type = "adam"
    hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def update(self, slots, w, g, lr, t):
        b1, b2, eps = self.config["beta_1"], self.config["beta_2"], self.config["epsilon"]
        m, v = _slot(slots, "m", w), _slot(slots, "v", w)
        alpha = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m += (g - m) * (1.0 - b1)
        v += (g * g - v) * (1.0 - b2)
        if self.config["amsgrad"]:
            v_hat = _slot(slots, "v_hat", w)
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= m * alpha / (np.sqrt(v) + eps)


class AdamW(Adam):
    """Adam; only dnnc's default weight_decay (0.004) differs."""

    type = "adamw"


class Nadam(Optimizer):
    type = "nadam"
    hyperparameters = ("beta_1", "beta_2", "epsilon")

    def __init__(self, config):
        super().__init__(config)
        self.u_product = 1.0  # Π_{s≤t} u_s

    def _u(self, t: int) -> float:
        return self.config["beta_1"] * (1.0 - 0.5 * 0.96**t)

    def begin_step(self, t):
        self.u_product *= self._u(t)

    def update(self, slots, w, g, lr, t):
        b1, b2, eps = self.config["beta_1"], self.config["beta_2"], self.config["epsilon"]
        m, v = _slot(slots, "m", w), _slot(slots, "v", w)
        u_t, u_next = self._u(t), self._u(t + 1)
        prod_t = self.u_product
        prod_next = prod_t * u_next
        m += (g - m) * (1.0 - b1)
        v += (g * g - v) * (1.0 - b2)
        m_hat = m * (u_next / (1.0 - prod_next)) + g * ((1.0 - u_t) / (1.0 - prod_t))
        v_hat = v / (1.0 - b2**t)
        w -= m_hat * lr / (np.sqrt(v_hat) + eps)

    def scalars(self):
        return {"u_product": self.u_product}

    def load_scalars(self, scalars):
        self.u_product = scalars.get("u_product", 1.0)


class Adamax(Optimizer):
    type = "adamax"
    hyperparameters = ("beta_1", "beta_2", "epsilon")

    def update(self, slots, w, g, lr, t):
        b1, b2, eps = self.config["beta_1"], self.config["beta_2"], self.config["epsilon"]
        m, u = _slot(slots, "m", w), _slot(slots, "u", w)
        m += (g - m) * (1.0 - b1)
        np.maximum(u * b2, np.abs(g), out=u)
        w -= m * lr / ((u + eps) * (1.0 - b1**t))


class RMSprop(Optimizer):
    type = "rmsprop"
    hyperparameters = ("rho", "momentum", "epsilon", "centered")

    def update(self, slots, w, g, lr, t):
        rho, mu, eps = self.config["rho"], self.config["momentum"], self.config["epsilon"]
        v = _slot(slots, "v", w)
        v[...] = v * rho + g * g * (1.0 - rho)
        if self.config["centered"]:
            a = _slot(slots, "mean_grad", w)
            a[...] = a * rho + g * (1.0 - rho)
            denominator = v - a * a + eps
        else:
            denominator = v + eps
        increment = g * lr / np.sqrt(denominator)
        if mu > 0:
            b = _slot(slots, "momentum", w)
            b[...] = b * mu + increment
            w -= b
        else:
            w -= increment


class Adagrad(Optimizer):
    type = "adagrad"
    hyperparameters = ("initial_accumulator_value", "epsilon")

    def update(self, slots, w, g, lr, t):
        acc = _slot(slots, "accumulator", w, self.config["initial_accumulator_value"])
        acc += g * g
        w -= g * lr / np.sqrt(acc + self.config["epsilon"])


class Adadelta(Optimizer):
    type = "adadelta"
    hyperparameters = ("rho", "epsilon")

    def update(self, slots, w, g, lr, t):
        rho, eps = self.config["rho"], self.config["epsilon"]
        eg, ed = _slot(slots, "mean_sq_grad", w), _slot(slots, "mean_sq_delta", w)
        eg[...] = eg * rho + g * g * (1.0 - rho)
        delta = np.sqrt(ed + eps) * g / np.sqrt(eg + eps)
        ed[...] = ed * rho + delta * delta * (1.0 - rho)
        w -= delta * lr


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.type: cls for cls in (SGD, Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad, Adadelta)
}
"""Optimizer type → class."""


def make_optimizer(config: Mapping[str, Any]) -> Optimizer:
    """The optimizer of an IR optimizer table (every hyperparameter explicit)."""
    kind = config.get("type")
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {kind!r}; the numpy backend knows {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[kind](config)
