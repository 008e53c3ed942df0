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

Each step works on whole lists of tensors with torch's multi-tensor
``torch._foreach_*`` ops (as torch.optim's ``foreach`` implementations do), so
its cost is a fixed number of calls per param group instead of a dozen small
ops per parameter; the bias-correction scalars are computed once per step, in
float64. The gradients themselves (``p.grad``) are not modified, unless the
owner of the model lets the update use them as scratch space
(``scratch_gradients = True``: the torch backend drops them after each step).

Every element-wise operation is the one Keras's update code performs, in its
order and with its float32 roundings: ``(g − m)·(1 − β1)`` and then ``m + …``,
never a fused ``lerp``/``addcmul``/``add(alpha=)``, whose single rounding differs
in the last bit. Training a batch-norm network amplifies last-bit differences
over hundreds of steps, and strict-parity runs compare the torch and Keras
trajectories (the fused variant was 16× further from Keras after 2 epochs of
the reference network). ``addcdiv_(w, x, d, value=−s)`` computes
``w − (s·x)/d`` with exactly the roundings of ``w.sub_(x * s / d)``, so it does
the final division.

The learning rate in each param group is the *current* one: the model sets it
with :func:`set_learning_rate` before every step (the value from
:func:`dnnc.numerics.learning_rate_at`, possibly scaled).

The scalars that change from step to step (the learning rate, bias
corrections, Nadam's momentum products) are computed in float64 Python by
:meth:`KerasFormulaOptimizer._step_scalars` and handed to the update rule,
which uses them exactly where the formulas do. :meth:`~KerasFormulaOptimizer.compile`
(``[training] compile = true``) runs the clipping, the weight decay and the
update rules under ``torch.compile`` from the second step on (the first, eager
one creates the slots): the same code, with the step scalars passed as 0-d
float32 tensors (the value a float32 kernel rounds a Python scalar to), so a
changing learning rate does not recompile. Compiled, the roundings of the fused
kernels may differ in the last bit; uncompiled, nothing changes.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from dnnc.numerics.schedules import learning_rate_at

_GLOBAL_STATE = "dnnc"  # key in Optimizer.state for per-optimizer (not per-parameter) state


class KerasFormulaOptimizer(torch.optim.Optimizer):
    """Base class: clipping, decoupled weight decay and the global step counter.

    Subclasses implement :meth:`_update_group`, the update rule applied to all
    parameters of one param group at once.
    """

    opt_type: str = ""
    hyperparameters: tuple[str, ...] = ()

    # torch wraps these two in torch._disable_dynamo, whose first call imports torch._dynamo (seconds of
    # start-up for every run); dnnc never compiles its optimizers, so the undecorated methods do.
    add_param_group = torch.optim.Optimizer.add_param_group.__wrapped__
    zero_grad = torch.optim.Optimizer.zero_grad.__wrapped__

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
        self.reset_global_state()
        self._compiled_apply: Any = None
        #: Whether the update may overwrite the gradients (the caller drops them after the step): saves copies.
        self.scratch_gradients = False

    def compile(self) -> None:
        """Run the update under ``torch.compile`` from the next step on that has slots (see the module docstring)."""
        if self._compiled_apply is None:
            self._compiled_apply = torch.compile(self._apply, dynamic=False)

    @torch.no_grad()
    def warm_up(self) -> None:
        """Compile the update now, from the parameters' current ``.grad``, and put everything back as it was: the
        parameters, the slots, the iteration count and the per-optimizer scalars (nothing without :meth:`compile`)."""
        if self._compiled_apply is None:
            return
        params = [p for group in self.param_groups for p in group["params"]]
        saved_params = [p.detach().clone() for p in params]
        saved_slots = {p: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in st.items()}
                       for p, st in self.state.items() if p is not _GLOBAL_STATE}
        saved_global = dict(self.state[_GLOBAL_STATE])
        try:
            for _ in range(2 if self.iterations == 0 else 1):  # the first update (eager) creates the slots
                self.apply_gradients()
        finally:
            for p, value in zip(params, saved_params):
                p.copy_(value)
            self.state.clear()
            self.state.update(saved_slots)
            self.state[_GLOBAL_STATE] = saved_global

    @property
    def iterations(self) -> int:
        """Number of updates done so far (Keras's `optimizer.iterations`)."""
        return self.state[_GLOBAL_STATE]["iterations"]

    def _initial_global_state(self) -> dict[str, float]:
        """Per-optimizer scalars other than the iteration count, at iteration 0 (Nadam: its momentum product)."""
        return {}

    def reset_global_state(self) -> None:
        self.state[_GLOBAL_STATE] = {"iterations": 0, **self._initial_global_state()}

    def global_state(self) -> dict[str, float]:
        """The per-optimizer scalars other than the iteration count, by canonical name (e.g. ``u_product``)."""
        return {k: v for k, v in self.state[_GLOBAL_STATE].items() if k != "iterations"}

    def load_global_state(self, iterations: int, scalars: Mapping[str, Any]) -> None:
        """Restore the iteration count and the scalars of :meth:`global_state` (ValueError for unknown ones)."""
        expected = set(self._initial_global_state())
        unknown = sorted(set(scalars) - expected)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no optimizer state {', '.join(unknown)} "
                             f"(it has: iterations{''.join(', ' + k for k in sorted(expected))})")
        state = {"iterations": int(iterations), **self._initial_global_state()}
        state.update({k: float(np.asarray(v)) for k, v in scalars.items()})
        self.state[_GLOBAL_STATE] = state

    def _clip(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The clipped gradients, as new tensors (the inputs are left alone); `grads` itself without clipping."""
        if not grads:
            return grads
        if self.clipnorm is not None:
            c = self.clipnorm
            norms = torch._foreach_norm(grads)
            torch._foreach_clamp_min_(norms, c)
            clipped = torch._foreach_mul(grads, c)
            torch._foreach_div_(clipped, norms)  # g·c / max(‖g‖, c), one 0-d divisor per variable
            return list(clipped)
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            # sqrt(Σ_vars Σ g²), summed per variable as Keras's clip_by_global_norm does.
            norm = torch.sqrt(torch.stack([torch.sum(s) for s in torch._foreach_mul(grads, grads)]).sum())
            # NaN for a non-finite norm, no epsilon.
            scale = c * torch.clamp(1.0 / norm, max=1.0 / c) + (norm - norm)
            return list(torch._foreach_mul(grads, scale))
        if self.clipvalue is not None:
            clipped = torch._foreach_clamp_min(grads, -self.clipvalue)
            torch._foreach_clamp_max_(clipped, self.clipvalue)
            return list(clipped)
        return grads

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.apply_gradients()
        return loss

    @torch.no_grad()
    def apply_gradients(self) -> None:
        """One update from the parameters' ``.grad`` (what :meth:`step` does, without torch.optim's step hooks
        and profiler records: the backend calls this directly)."""
        groups: list[tuple[dict, list[torch.Tensor]]] = []
        grads: list[torch.Tensor] = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                groups.append((group, params))
                grads.extend(p.grad for p in params)
        if not groups:
            return
        if any(g.is_sparse for g in grads):
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        t = self.iterations + 1
        self._begin_step(t)
        scalars = [self._step_scalars(group, t) for group, _ in groups]
        if self._compiled_apply is not None and t > 1:
            device = grads[0].device
            tensors = [{k: torch.tensor(v, dtype=torch.float32, device=device) for k, v in sc.items()}
                       for sc in scalars]
            self._compiled_apply(groups, grads, tensors)
        else:
            self._apply(groups, grads, scalars)
        self.state[_GLOBAL_STATE]["iterations"] = t

    def _apply(self, groups: list[tuple[dict, list[torch.Tensor]]], grads: list[torch.Tensor],
               scalars: list[dict[str, Any]]) -> None:
        """Clip, decay and update every group, with its step scalars (floats, or 0-d tensors when compiled)."""
        grads = self._clip(grads)
        start = 0
        for (group, params), s in zip(groups, scalars):
            group_grads = grads[start:start + len(params)]
            start += len(params)
            wd = group["weight_decay"]
            if wd:  # w ← w − (w·wd)·lr, before the update
                decay = torch._foreach_mul(params, wd)
                torch._foreach_mul_(decay, s["lr"])
                torch._foreach_sub_(params, decay)
            self._update_group(group, params, group_grads, [self.state[p] for p in params], s)

    def _begin_step(self, t: int) -> None:
        """Hook for per-step state (Nadam's momentum product)."""

    def _step_scalars(self, group: dict, t: int) -> dict[str, float]:
        """The scalars of update `t` the rule uses, computed in float64 (default: the learning rate)."""
        return {"lr": group["lr"]}

    def _update_group(self, group: dict, params: list[torch.Tensor], grads: list[torch.Tensor],
                      states: list[dict], s: Mapping[str, Any]) -> None:
        """Apply the update rule to `params` (in place) from their (clipped) `grads`, per-parameter `states` and the
        step scalars `s` (:meth:`_step_scalars`; floats, or 0-d float32 tensors when compiled)."""
        raise NotImplementedError


def _f32(x: float) -> float:
    return float(np.float32(x))


def _buffers(states: list[dict], key: str, params: list[torch.Tensor], value: float = 0.0) -> list[torch.Tensor]:
    """The state tensor `key` of every parameter, created filled with `value` on first use."""
    out = []
    for state, p in zip(states, params):
        buf = state.get(key)
        if buf is None:
            buf = state[key] = torch.full_like(p, value, memory_format=torch.preserve_format)
        out.append(buf)
    return out


def _moving_average_(buffers: list[torch.Tensor], x: list[torch.Tensor], one_minus_beta: float, *,
                     x_is_scratch: bool = False) -> None:
    """b ← b + (x − b)·(1 − β) in place, rounded as Keras does; `x` is overwritten when `x_is_scratch`."""
    if x_is_scratch:
        torch._foreach_sub_(x, buffers)
        step = x
    else:
        step = torch._foreach_sub(x, buffers)
    torch._foreach_mul_(step, one_minus_beta)
    torch._foreach_add_(buffers, step)


def _square_times(x: list[torch.Tensor], factor: float) -> list[torch.Tensor]:
    """New tensors x²·factor (two roundings, as Keras computes ``square(x) * factor``)."""
    out = torch._foreach_mul(x, x)
    torch._foreach_mul_(out, factor)
    return out


def _addcdiv_(target: list[torch.Tensor], x: list[torch.Tensor], d: list[torch.Tensor], scale: Any) -> None:
    """target ← target + (scale·x)/d in place, with the roundings of ``target.add_(x * scale / d)``: one
    ``addcdiv_`` for a float scale, the three operations for a 0-d tensor (a compiled step)."""
    if isinstance(scale, torch.Tensor):
        q = torch._foreach_mul(x, scale)
        torch._foreach_div_(q, d)
        torch._foreach_add_(target, q)
    else:
        torch._foreach_addcdiv_(target, x, d, value=scale)


def _subcdiv_(target: list[torch.Tensor], x: list[torch.Tensor], d: list[torch.Tensor], scale: Any) -> None:
    """target ← target − (scale·x)/d: :func:`_addcdiv_` with −scale (negation is exact, so the roundings are
    those of ``target.sub_(x * scale / d)``)."""
    _addcdiv_(target, x, d, -scale)


def _decay_and_add_(buffers: list[torch.Tensor], decay: float, addend: list[torch.Tensor]) -> None:
    """b ← b·decay + addend, in place."""
    torch._foreach_mul_(buffers, decay)
    torch._foreach_add_(buffers, addend)


class KerasSGD(KerasFormulaOptimizer):
    """m ← μm − lr·g; w ← w + m (Nesterov: w ← w + μm − lr·g); without momentum w ← w − lr·g."""

    opt_type = "sgd"
    hyperparameters = ("momentum", "nesterov")

    def _update_group(self, group, params, grads, states, s):
        lr, mu = s["lr"], group["momentum"]
        if self.scratch_gradients:  # lr·g in place of g (the same values, no new tensors)
            torch._foreach_mul_(grads, lr)
            lr_g = grads
        else:
            lr_g = torch._foreach_mul(grads, lr)
        if mu == 0:
            torch._foreach_sub_(params, lr_g)
            return
        m = _buffers(states, "momentum", params)
        torch._foreach_mul_(m, mu)
        torch._foreach_sub_(m, lr_g)  # m ← μm − lr·g
        if group["nesterov"]:
            step = torch._foreach_mul(m, mu)
            torch._foreach_sub_(step, lr_g)  # μm − lr·g, with the new m
            torch._foreach_add_(params, step)
        else:
            torch._foreach_add_(params, m)


class KerasAdam(KerasFormulaOptimizer):
    """w ← w − lr·sqrt(1−β2^t)/(1−β1^t) · m/(sqrt(v) + ε): ε added before bias correction."""

    opt_type = "adam"
    hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def _step_scalars(self, group, t):
        b1, b2 = group["beta_1"], group["beta_2"]
        return {"lr": group["lr"], "alpha": group["lr"] * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)}

    def _update_group(self, group, params, grads, states, s):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m, v = _buffers(states, "m", params), _buffers(states, "v", params)
        _moving_average_(m, grads, 1.0 - b1)
        _moving_average_(v, torch._foreach_mul(grads, grads), 1.0 - b2, x_is_scratch=True)
        if group["amsgrad"]:
            v_hat = _buffers(states, "v_hat", params)
            torch._foreach_maximum_(v_hat, v)
            v = v_hat
        denominator = torch._foreach_sqrt(v)
        torch._foreach_add_(denominator, eps)
        _subcdiv_(params, m, denominator, s["alpha"])  # w − (α·m)/(sqrt(v) + ε)


class KerasAdamW(KerasAdam):
    """Adam; only the default weight_decay (0.004) differs."""

    opt_type = "adamw"


class KerasNadam(KerasFormulaOptimizer):
    """Nadam with u_t = β1(1 − ½·0.96^t) (torch's NAdam uses 0.96^(0.004·t))."""

    opt_type = "nadam"
    hyperparameters = ("beta_1", "beta_2", "epsilon")

    def _initial_global_state(self) -> dict[str, float]:
        return {"u_product": 1.0}

    def _u(self, t: int) -> float:
        return self.defaults["beta_1"] * (1.0 - 0.5 * 0.96**t)

    def _begin_step(self, t):
        self.state[_GLOBAL_STATE]["u_product"] *= self._u(t)

    def _step_scalars(self, group, t):
        u_t, u_next = self._u(t), self._u(t + 1)
        prod_t = self.state[_GLOBAL_STATE]["u_product"]
        prod_next = prod_t * u_next
        return {"lr": group["lr"], "u_next": u_next, "one_minus_prod_next": 1.0 - prod_next,
                "one_minus_u_t": 1.0 - u_t, "one_minus_prod_t": 1.0 - prod_t,
                "v_correction": 1.0 - group["beta_2"]**t}

    def _update_group(self, group, params, grads, states, s):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m, v = _buffers(states, "m", params), _buffers(states, "v", params)
        _moving_average_(m, grads, 1.0 - b1)
        _moving_average_(v, torch._foreach_mul(grads, grads), 1.0 - b2, x_is_scratch=True)
        m_hat = torch._foreach_mul(m, s["u_next"])
        torch._foreach_div_(m_hat, s["one_minus_prod_next"])
        g_part = torch._foreach_mul(grads, s["one_minus_u_t"])
        torch._foreach_div_(g_part, s["one_minus_prod_t"])
        torch._foreach_add_(m_hat, g_part)  # m·u_{t+1}/(1 − P_{t+1}) + g·(1 − u_t)/(1 − P_t)
        denominator = torch._foreach_div(v, s["v_correction"])  # v̂
        torch._foreach_sqrt_(denominator)
        torch._foreach_add_(denominator, eps)
        _subcdiv_(params, m_hat, denominator, s["lr"])


class KerasAdamax(KerasFormulaOptimizer):
    """u ← max(β2·u, |g|); w ← w − lr·m / ((1−β1^t)(u + ε))."""

    opt_type = "adamax"
    hyperparameters = ("beta_1", "beta_2", "epsilon")

    def _step_scalars(self, group, t):
        return {"lr": group["lr"], "m_correction": 1.0 - group["beta_1"]**t}

    def _update_group(self, group, params, grads, states, s):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m, u = _buffers(states, "m", params), _buffers(states, "u", params)
        _moving_average_(m, grads, 1.0 - b1)
        torch._foreach_mul_(u, b2)
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denominator = torch._foreach_add(u, eps)
        torch._foreach_mul_(denominator, s["m_correction"])
        _subcdiv_(params, m, denominator, s["lr"])


class KerasRMSprop(KerasFormulaOptimizer):
    """inc = lr·g/sqrt(v + ε) (centered: v − ā² + ε); momentum b ← μb + inc, w ← w − b."""

    opt_type = "rmsprop"
    hyperparameters = ("rho", "momentum", "epsilon", "centered")

    def _update_group(self, group, params, grads, states, s):
        rho, mu, eps, lr = group["rho"], group["momentum"], group["epsilon"], s["lr"]
        v = _buffers(states, "v", params)
        _decay_and_add_(v, rho, _square_times(grads, 1.0 - rho))  # ρv + g²(1 − ρ)
        if group["centered"]:
            a = _buffers(states, "mean_grad", params)
            _decay_and_add_(a, rho, torch._foreach_mul(grads, 1.0 - rho))  # ρa + g(1 − ρ)
            denominator = torch._foreach_sub(v, torch._foreach_mul(a, a))
            torch._foreach_add_(denominator, eps)
        else:
            denominator = torch._foreach_add(v, eps)
        torch._foreach_sqrt_(denominator)
        if mu > 0:
            b = _buffers(states, "momentum", params)
            torch._foreach_mul_(b, mu)
            _addcdiv_(b, grads, denominator, lr)  # μb + (lr·g)/sqrt(d)
            torch._foreach_sub_(params, b)
        else:
            _subcdiv_(params, grads, denominator, lr)  # w − (lr·g)/sqrt(d)


class KerasAdagrad(KerasFormulaOptimizer):
    """acc ← acc + g² (from initial_accumulator_value); w ← w − lr·g / sqrt(acc + ε)."""

    opt_type = "adagrad"
    hyperparameters = ("initial_accumulator_value", "epsilon")

    def _update_group(self, group, params, grads, states, s):
        acc = _buffers(states, "accumulator", params, group["initial_accumulator_value"])
        torch._foreach_add_(acc, torch._foreach_mul(grads, grads))
        denominator = torch._foreach_add(acc, group["epsilon"])
        torch._foreach_sqrt_(denominator)
        _subcdiv_(params, grads, denominator, s["lr"])


class KerasAdadelta(KerasFormulaOptimizer):
    """Δ = sqrt(E[Δ²]+ε)/sqrt(E[g²]+ε)·g; w ← w − lr·Δ."""

    opt_type = "adadelta"
    hyperparameters = ("rho", "epsilon")

    def _update_group(self, group, params, grads, states, s):
        rho, eps = group["rho"], group["epsilon"]
        eg, ed = _buffers(states, "mean_sq_grad", params), _buffers(states, "mean_sq_delta", params)
        _decay_and_add_(eg, rho, _square_times(grads, 1.0 - rho))
        delta = torch._foreach_add(ed, eps)
        torch._foreach_sqrt_(delta)
        torch._foreach_mul_(delta, grads)
        denominator = torch._foreach_add(eg, eps)
        torch._foreach_sqrt_(denominator)
        torch._foreach_div_(delta, denominator)  # sqrt(E_Δ + ε)·g / sqrt(E_g + ε)
        _decay_and_add_(ed, rho, _square_times(delta, 1.0 - rho))
        torch._foreach_sub_(params, torch._foreach_mul(delta, s["lr"]))


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
