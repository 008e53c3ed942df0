"""One optimizer step of the reference, with the float32 error bound of the step.

The update rules are :mod:`dnnc.numerics.optimizers` (clipping, decoupled
weight decay, the Keras 3 formulas; state in float64) and the learning rate
is :func:`dnnc.numerics.schedules.learning_rate_at`, as every backend gets it.

:class:`OracleOptimizer` follows a backend along its own trajectory: at step
k it receives the backend's weights ``w_k`` (exact float32 numbers) and the
reference's gradient at ``w_k`` with its bound, and predicts ``w_{k+1}`` with
a bound.  Its state (Adam's moments, momentum buffers, …) is the reference's
own, built from the reference's gradients at the backend's weights; how far
the backend's state can be from it is carried as a bound from step to step.

The bound of a step, per element, is the sum over the step's inputs of the
largest change of the result when that input alone moves to either end of
its interval (a first-order bound, exact for each input separately, so
Adam's ``m/(√v + ε)`` near ``v = 0`` is bounded by the formula itself):

* the gradient, by its bound (moved by ``± sign(g)·e_g``, so that the global
  clipping norm moves the most);
* every state slot, by its carried bound (non-negative slots stay ≥ 0);
* the learning rate, by ``ρ_t·lr`` with ``ρ_t = 8u + Σ_h (t + 1)·u·h^t/(1 − h^t)``
  over the hyperparameters h in (0, 1): the rounding of the step's scalar
  factors, whose largest part is a bias correction ``1 − β2^t`` computed as a
  float32 power of float32 β2 — independently of the ``1 − β2`` of the moment
  update, so the two errors do not cancel (Keras at t = 22: the update of an
  element whose gradient was 0 until then is off by 6.9e-6 relative, ρ = 6e-5);
* every floating-point hyperparameter ``h`` (β1, β2, ε, ρ, momentum, weight
  decay, clipping thresholds, …), by ``2u·|h|``: its float32 representation
  and the rounding of the quantities a backend derives from it (``1 − β2``);

The per-element inputs (the gradient, every state slot) are also moved all at once, to the corner of their
box that moves each weight up and to the one that moves it down (the signs read off the separate moves); the
weight's bound is the larger of that and the sum.  The sum is exact only to first order: when a gradient is far
off (a ReLU kink flips in the backend), m and v move together and the cross term of ``m/(√v̂ + ε)`` matters.

plus the update's own rounding, ``8u·(|Δw| + |w_{k+1}|)`` for the weights and
``8u·(|s_{k+1}| + |s_k|)`` for each state slot (at most eight roundings on any
path of these formulas).
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np

from ..numerics.optimizers import ReferenceOptimizer, make_reference_optimizer
from . import arith as A

HYPER_ULPS = 2.0
STEP_ROUNDINGS = 8.0

#: State slots that are never negative (second moments, accumulators, Adamax's norm).
NONNEGATIVE_SLOTS = frozenset({"v", "v_hat", "u", "accumulator", "mean_sq_grad", "mean_sq_delta"})

#: Optimizer-config keys that are not perturbed (not floating-point hyperparameters of the update).
_NOT_HYPER = {"type", "learning_rate", "nesterov", "amsgrad", "centered"}


def _per_key(sign: Any, key: str) -> Any:
    """A sign for the elements of parameter `key`: a scalar, or one array per key."""
    return sign[key] if isinstance(sign, dict) else sign


def _move_slot(opt: ReferenceOptimizer, bounds: Mapping[str, Mapping[str, np.ndarray]], slot: str, sign: Any) -> None:
    """Move state `slot` of every parameter of `opt` by ``sign · bound`` away from zero (non-negative slots stay
    ≥ 0); `sign` is a scalar or per key an array of ±1."""
    for k, slots in bounds.items():
        if slot in slots and k in opt.state and slot in opt.state[k]:
            s = opt.state[k][slot]
            moved = s + _per_key(sign, k) * np.where(s >= 0, 1.0, -1.0) * slots[slot]
            opt.state[k][slot] = np.maximum(moved, 0.0) if slot in NONNEGATIVE_SLOTS else moved


def _hyperparameters(config: Mapping[str, Any]) -> list[str]:
    return sorted(k for k, v in config.items()
                  if k not in _NOT_HYPER and isinstance(v, float) and not isinstance(v, bool) and v != 0.0)


class OracleOptimizer:
    """The IR's optimizer in float64 with per-element bounds (see the module docstring)."""

    def __init__(self, optimizer_ir: Mapping[str, Any]) -> None:
        self.config = dict(optimizer_ir)
        self.opt: ReferenceOptimizer = make_reference_optimizer(self.config)
        #: parameter key → slot → bound of the backend's slot against ours
        self.state_bounds: dict[str, dict[str, np.ndarray]] = {}

    def factor_rounding(self, t: int) -> float:
        """ρ_t: the relative float32 error of step t's scalar factors — a few roundings, plus (t + 1)·u·h^t/(1 − h^t)
        for every hyperparameter h in (0, 1): the error of a bias correction 1 − h^t computed as a float32 power
        of float32 h (h's representation error, at most u·h, grows t-fold in h^t; the power rounds once more)."""
        rho = STEP_ROUNDINGS * A.U32
        for name in _hyperparameters(self.config):
            h = self.config[name]
            if 0.0 < h < 1.0:
                rho += (t + 1) * A.U32 * h**t / (1.0 - h**t)
        return rho

    def _run(self, opt: ReferenceOptimizer, weights: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
             lr: float) -> tuple[dict[str, np.ndarray], ReferenceOptimizer]:
        params = {k: np.array(weights[k], dtype=np.float64) for k in grads}
        with np.errstate(all="ignore"):
            opt.step(params, grads, lr)
        return params, opt

    def step(self, weights: Mapping[str, np.ndarray], grads: Mapping[str, A.Value], lr: float
             ) -> dict[str, A.Bounded]:
        """The predicted weights after one step from `weights` (every key of `grads`), bounded."""
        g = {k: A.value(v).astype(np.float64) for k, v in grads.items()}
        ge = {k: A.bound(v) for k, v in grads.items()}
        center, after = self._run(copy.deepcopy(self.opt), weights, g, lr)
        deviation = {k: np.zeros_like(v) for k, v in center.items()}
        state_dev = {k: {s: np.zeros_like(a) for s, a in slots.items()} for k, slots in after.state.items()}

        def accumulate(variants: list[tuple[dict, ReferenceOptimizer]]) -> None:
            worst_w = {k: np.zeros_like(v) for k, v in center.items()}
            worst_s = {k: {s: np.zeros_like(a) for s, a in slots.items()} for k, slots in state_dev.items()}
            for params, opt in variants:
                for k in center:
                    worst_w[k] = np.maximum(worst_w[k], np.abs(params[k] - center[k]))
                for k, slots in worst_s.items():
                    for s in slots:
                        slots[s] = np.maximum(slots[s], np.abs(opt.state[k][s] - after.state[k][s]))
            for k in center:
                deviation[k] += np.nan_to_num(worst_w[k], nan=np.inf)
            for k, slots in worst_s.items():
                for s in slots:
                    state_dev[k][s] += np.nan_to_num(slots[s], nan=np.inf)

        def moved_gradient(sign: Any) -> dict[str, np.ndarray]:
            return {k: g[k] + _per_key(sign, k) * np.where(g[k] >= 0, 1.0, -1.0) * ge[k] for k in g}

        def moved_slots(slot: str, sign: Any) -> ReferenceOptimizer:
            opt = copy.deepcopy(self.opt)
            _move_slot(opt, self.state_bounds, slot, sign)
            return opt

        # the per-element inputs — the gradient and each state slot — one at a time, each to either end of its
        # interval; the signed change of every weight is kept to find the joint corners below
        slots_bounded = sorted({s for slots in self.state_bounds.values() for s in slots})
        signed: list[tuple[dict, dict]] = []  # per input: (change at +, change at −) of every weight
        for make in ([lambda sign: self._run(copy.deepcopy(self.opt), weights, moved_gradient(sign), lr)]
                     + [lambda sign, slot=slot: self._run(moved_slots(slot, sign), weights, g, lr)
                        for slot in slots_bounded]):
            plus, minus = make(1.0), make(-1.0)
            accumulate([plus, minus])
            signed.append(({k: plus[0][k] - center[k] for k in center}, {k: minus[0][k] - center[k] for k in center}))
        # the joint corners: every per-element input at the end of its interval that moves the weight up (then
        # down) at once.  The update is monotone in each of them (m/(√v̂ + ε) in m and in v), so the extremes are
        # corners; the sum of the separate changes is exact only to first order and misses the cross terms
        # (m and v both moved by one gradient far off at a ReLU kink: +3 % at step 6 of issue 11's network).
        for direction in (1.0, -1.0):
            choice = [{k: np.where(direction * (up[k] - down[k]) >= 0, 1.0, -1.0) for k in center}
                      for up, down in signed]
            opt = copy.deepcopy(self.opt)
            for slot, sign in zip(slots_bounded, choice[1:]):
                _move_slot(opt, self.state_bounds, slot, sign)
            params, _ = self._run(opt, weights, moved_gradient(choice[0]), lr)
            for k in center:
                deviation[k] = np.maximum(deviation[k], np.nan_to_num(np.abs(params[k] - center[k]), nan=np.inf))
        # the step's scalar factors (learning rate, bias corrections)
        rho = self.factor_rounding(self.opt.iterations + 1)
        accumulate([self._run(copy.deepcopy(self.opt), weights, g, lr * (1.0 + sign * rho)) for sign in (1.0, -1.0)])
        # each hyperparameter
        for name in _hyperparameters(self.config):
            variants = []
            for sign in (1.0, -1.0):
                opt = copy.deepcopy(self.opt)
                opt.config[name] = self.config[name] * (1.0 + sign * HYPER_ULPS * A.U32)
                variants.append(self._run(opt, weights, g, lr))
            accumulate(variants)

        out = {}
        for k, v in center.items():
            w0 = np.asarray(weights[k], dtype=np.float64)
            out[k] = A.Bounded(v, deviation[k] + STEP_ROUNDINGS * A.U32 * (np.abs(v - w0) + np.abs(v)))
        new_bounds: dict[str, dict[str, np.ndarray]] = {}
        for k, slots in after.state.items():
            new_bounds[k] = {}
            for s, a in slots.items():
                old = self.opt.state.get(k, {}).get(s)
                old_abs = np.abs(old) if old is not None else 0.0
                new_bounds[k][s] = state_dev[k][s] + STEP_ROUNDINGS * A.U32 * (np.abs(a) + old_abs)
        self.opt, self.state_bounds = after, new_bounds
        return out
