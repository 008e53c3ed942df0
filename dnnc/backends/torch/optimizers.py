"""PyTorch optimizers implementing dnnc's (= Keras 3's) update rules exactly.

Stock `torch.optim` classes differ from the documented formulas in ε placement
(Adam, RMSprop, Adagrad, Adamax), in where lr sits in momentum buffers (SGD,
RMSprop), in the meaning of `weight_decay` (coupled L2), in Nadam's momentum
schedule and in the clipping epsilon, so every type is re-implemented here.

One `step()`:

1. clip the gradients: `clipnorm` per variable g·c/max(‖g‖, c); `global_clipnorm`
   over all variables g·c·min(1/‖G‖, 1/c) (no epsilon, unlike
   `torch.nn.utils.clip_grad_norm_`); `clipvalue` element-wise;
2. decoupled weight decay w ← w − w·wd·lr on every parameter with a gradient;
3. the update rule, with t = number of updates including this one.

The learning rate in each param group is the *current* one: the runner sets it
with :func:`set_learning_rate` before every step (the value from
:func:`dnnc.numerics.learning_rate_at`, possibly scaled).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from dnnc.numerics.schedules import learning_rate_at

_GLOBAL_STATE = "dnnc"  # key in Optimizer.state for per-optimizer (not per-parameter) state


class KerasFormulaOptimizer(torch.optim.Optimizer):
    """Base class: clipping, decoupled weight decay and the global step counter."""

    opt_type: str = ""
    hyperparameters: tuple[str, ...] = ()

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float,
        weight_decay: float,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        clipvalue: float | None = None,
        **hyperparameters: Any,
    ) -> None:
        names = set(hyperparameters)
        if names != set(self.hyperparameters):
            missing = sorted(set(self.hyperparameters) - names)
            extra = sorted(names - set(self.hyperparameters))
            raise TypeError(
                f"{type(self).__name__} needs exactly the hyperparameters {', '.join(self.hyperparameters)}"
                f" (missing: {', '.join(missing) or 'none'}; unknown: {', '.join(extra) or 'none'})"
            )
        if sum(c is not None for c in (clipnorm, global_clipnorm, clipvalue)) > 1:
            raise ValueError("only one of clipnorm, global_clipnorm and clipvalue may be set")
        defaults = dict(lr=_f32(lr), weight_decay=float(weight_decay), **hyperparameters)
        super().__init__(params, defaults)
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.state[_GLOBAL_STATE] = {"iterations": 0}

    @property
    def iterations(self) -> int:
        """Number of updates done so far (Keras's `optimizer.iterations`)."""
        return self.state[_GLOBAL_STATE]["iterations"]

    def _clip(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.clipnorm is not None:
            c = self.clipnorm
            return [g * c / torch.clamp(torch.linalg.vector_norm(g), min=c) for g in grads]
        if self.global_clipnorm is not None and grads:
            c = self.global_clipnorm
            norm = torch.sqrt(torch.stack([torch.sum(torch.square(g)) for g in grads]).sum())
            # Keras's clip_by_global_norm: NaN for a non-finite norm, no epsilon.
            scale = c * torch.clamp(1.0 / norm, max=1.0 / c) + (norm - norm)
            return [g * scale for g in grads]
        if self.clipvalue is not None:
            return [torch.clamp(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        items = [(group, p) for group in self.param_groups for p in group["params"] if p.grad is not None]
        if not items:
            return loss
        if any(p.grad.is_sparse for _, p in items):
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        grads = self._clip([p.grad for _, p in items])
        for group, p in items:
            wd = group["weight_decay"]
            if wd:
                p.sub_(p * wd * group["lr"])
        t = self.iterations + 1
        self._begin_step(t)
        for (group, p), g in zip(items, grads):
            self._update(group, self.state[p], p, g, t)
        self.state[_GLOBAL_STATE]["iterations"] = t
        return loss

    def _begin_step(self, t: int) -> None:
        """Hook for per-step state (Nadam's momentum product)."""

    def _update(self, group: dict, state: dict, p: torch.Tensor, g: torch.Tensor, t: int) -> None:
        raise NotImplementedError


def _f32(x: float) -> float:
    return float(np.float32(x))


def _buffer(state: dict, key: str, p: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    if key not in state:
        state[key] = torch.full_like(p, value, memory_format=torch.preserve_format)
    return state[key]


class KerasSGD(KerasFormulaOptimizer):
    """m ← μm − lr·g; w ← w + m (Nesterov: w ← w + μm − lr·g); without momentum w ← w − lr·g."""

    opt_type = "sgd"
    hyperparameters = ("momentum", "nesterov")

    def _update(self, group, state, p, g, t):
        lr, mu = group["lr"], group["momentum"]
        if mu == 0:
            p.sub_(g * lr)
            return
        m = _buffer(state, "momentum", p)
        m.copy_(m * mu - g * lr)
        if group["nesterov"]:
            p.add_(m * mu - g * lr)
        else:
            p.add_(m)


class KerasAdam(KerasFormulaOptimizer):
    """w ← w − lr·sqrt(1−β2^t)/(1−β1^t) · m/(sqrt(v) + ε): ε added before bias correction."""

    opt_type = "adam"
    hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def _update(self, group, state, p, g, t):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m, v = _buffer(state, "m", p), _buffer(state, "v", p)
        alpha = group["lr"] * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m.add_((g - m) * (1.0 - b1))
        v.add_((torch.square(g) - v) * (1.0 - b2))
        if group["amsgrad"]:
            v_hat = _buffer(state, "v_hat", p)
            torch.maximum(v_hat, v, out=v_hat)
            v = v_hat
        p.sub_(m * alpha / (torch.sqrt(v) + eps))


class KerasAdamW(KerasAdam):
    """Adam; only the default weight_decay (0.004) differs."""

    opt_type = "adamw"


class KerasNadam(KerasFormulaOptimizer):
    """Nadam with u_t = β1(1 − ½·0.96^t) (torch's NAdam uses 0.96^(0.004·t))."""

    opt_type = "nadam"
    hyperparameters = ("beta_1", "beta_2", "epsilon")

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.state[_GLOBAL_STATE]["u_product"] = 1.0

    def _u(self, t: int) -> float:
        return self.defaults["beta_1"] * (1.0 - 0.5 * 0.96**t)

    def _begin_step(self, t):
        self.state[_GLOBAL_STATE]["u_product"] *= self._u(t)

    def _update(self, group, state, p, g, t):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m, v = _buffer(state, "m", p), _buffer(state, "v", p)
        u_t, u_next = self._u(t), self._u(t + 1)
        prod_t = self.state[_GLOBAL_STATE]["u_product"]
        prod_next = prod_t * u_next
        m.add_((g - m) * (1.0 - b1))
        v.add_((torch.square(g) - v) * (1.0 - b2))
        m_hat = m * u_next / (1.0 - prod_next) + g * (1.0 - u_t) / (1.0 - prod_t)
        v_hat = v / (1.0 - b2**t)
        p.sub_(m_hat * group["lr"] / (torch.sqrt(v_hat) + eps))


class KerasAdamax(KerasFormulaOptimizer):
    """u ← max(β2·u, |g|); w ← w − lr·m / ((1−β1^t)(u + ε))."""

    opt_type = "adamax"
    hyperparameters = ("beta_1", "beta_2", "epsilon")

    def _update(self, group, state, p, g, t):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m, u = _buffer(state, "m", p), _buffer(state, "u", p)
        m.add_((g - m) * (1.0 - b1))
        torch.maximum(u * b2, torch.abs(g), out=u)
        p.sub_(m * group["lr"] / ((u + eps) * (1.0 - b1**t)))


class KerasRMSprop(KerasFormulaOptimizer):
    """inc = lr·g/sqrt(v + ε) (centered: v − ā² + ε); momentum b ← μb + inc, w ← w − b."""

    opt_type = "rmsprop"
    hyperparameters = ("rho", "momentum", "epsilon", "centered")

    def _update(self, group, state, p, g, t):
        rho, mu, eps = group["rho"], group["momentum"], group["epsilon"]
        v = _buffer(state, "v", p)
        v.copy_(v * rho + torch.square(g) * (1.0 - rho))
        if group["centered"]:
            a = _buffer(state, "mean_grad", p)
            a.copy_(a * rho + g * (1.0 - rho))
            denominator = v - torch.square(a) + eps
        else:
            denominator = v + eps
        increment = g * group["lr"] / torch.sqrt(denominator)
        if mu > 0:
            b = _buffer(state, "momentum", p)
            b.copy_(b * mu + increment)
            p.sub_(b)
        else:
            p.sub_(increment)


class KerasAdagrad(KerasFormulaOptimizer):
    """acc ← acc + g² (from initial_accumulator_value); w ← w − lr·g / sqrt(acc + ε)."""

    opt_type = "adagrad"
    hyperparameters = ("initial_accumulator_value", "epsilon")

    def _update(self, group, state, p, g, t):
        acc = _buffer(state, "accumulator", p, group["initial_accumulator_value"])
        acc.add_(torch.square(g))
        p.sub_(g * group["lr"] / torch.sqrt(acc + group["epsilon"]))


class KerasAdadelta(KerasFormulaOptimizer):
    """Δ = sqrt(E[Δ²]+ε)/sqrt(E[g²]+ε)·g; w ← w − lr·Δ."""

    opt_type = "adadelta"
    hyperparameters = ("rho", "epsilon")

    def _update(self, group, state, p, g, t):
        rho, eps = group["rho"], group["epsilon"]
        eg, ed = _buffer(state, "mean_sq_grad", p), _buffer(state, "mean_sq_delta", p)
        eg.copy_(eg * rho + torch.square(g) * (1.0 - rho))
        delta = torch.sqrt(ed + eps) * g / torch.sqrt(eg + eps)
        ed.copy_(ed * rho + torch.square(delta) * (1.0 - rho))
        p.sub_(delta * group["lr"])


TORCH_OPTIMIZERS: dict[str, type[KerasFormulaOptimizer]] = {
    cls.opt_type: cls
    for cls in (KerasSGD, KerasAdam, KerasAdamW, KerasNadam, KerasAdamax, KerasRMSprop, KerasAdagrad, KerasAdadelta)
}
"""Optimizer type → torch class."""


def build_torch_optimizer(
    params_named: list[tuple[str, torch.nn.Parameter]], opt_ir: Mapping[str, Any]
) -> KerasFormulaOptimizer:
    """The torch optimizer for an optimizer IR dict, over the named trainable parameters.

    The initial lr is the value for update 0; call :func:`set_learning_rate`
    before every step to follow a schedule.
    """
    kind = opt_ir.get("type")
    try:
        cls = TORCH_OPTIMIZERS[kind]
    except KeyError:
        raise ValueError(f"unknown optimizer type {kind!r}; known: {', '.join(sorted(TORCH_OPTIMIZERS))}") from None
    hp = {k: opt_ir[k] for k in cls.hyperparameters}
    return cls(
        list(params_named),
        lr=learning_rate_at(opt_ir["learning_rate"], 0),
        weight_decay=opt_ir["weight_decay"],
        clipnorm=opt_ir.get("clipnorm"),
        global_clipnorm=opt_ir.get("global_clipnorm"),
        clipvalue=opt_ir.get("clipvalue"),
        **hp,
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Use `lr` (rounded to float32, as every backend stores it) for the next step of every param group."""
    value = _f32(lr)
    for group in optimizer.param_groups:
        group["lr"] = value


def get_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate the next step will use."""
    return float(optimizer.param_groups[0]["lr"])
