"""The interpreter: runs an IR's graph forward and backward with the op table of :mod:`.ops`.

The forward pass runs the nodes in topological order and keeps each node's
cache; the backward pass walks them in reverse from ∂L/∂output of every output
with a loss and adds up the gradients flowing into each value (a value read by
several nodes gets the sum).  Nodes on no path from a trainable parameter to a
loss are skipped, and so is ∂L/∂x of nodes whose inputs depend on no parameter.

The total loss is ``Σ_outputs loss_weight·loss_o + Σ penalties`` (dnnc's
definition, :class:`dnnc.backends.base.StepResult`); ``losses`` holds
``"loss"`` and, with several outputs, ``"<output>_loss"`` (without penalties).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..compiler.ir import ModelIR
from . import arith as A
from .losses import penalty, reduced
from .ops import OPS, Pass


@dataclass
class Evaluation:
    """What one pass of the reference computed (values of the pass's mode: arrays or Bounded)."""

    outputs: dict[str, A.Value]
    #: the moving statistics after the pass (training mode: updated once; inference: unchanged)
    moving: dict[str, A.Value] = field(default_factory=dict)
    losses: dict[str, A.Value] = field(default_factory=dict)
    #: ∂(total loss)/∂parameter for every trainable parameter (canonical keys and layout)
    gradients: dict[str, A.Value] = field(default_factory=dict)
    #: ∂(total loss)/∂input, when asked for (``wrt_inputs``)
    input_gradients: dict[str, A.Value] = field(default_factory=dict)


class UnsupportedOp(ValueError):
    """The IR uses an op the reference does not implement (a plugin op)."""


def unsupported_ops(ir: ModelIR) -> list[str]:
    """The IR's ops the reference has no implementation of, sorted."""
    return sorted(ir.ops - set(OPS))


class Reference:
    """The NumPy reference of one IR in one mode (``"float64"``, ``"float32"`` or ``"bounded"``)."""

    def __init__(self, ir: ModelIR, mode: str = "float64") -> None:
        if mode not in A.MODES:
            raise ValueError(f"unknown reference mode {mode!r} (allowed: {', '.join(A.MODES)})")
        missing = unsupported_ops(ir)
        if missing:
            raise UnsupportedOp(f"the reference has no implementation of op{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(missing)}")
        self.ir, self.mode = ir, mode
        index = {n.name: i for i, n in enumerate(ir.nodes)}
        self._slots = [tuple(index[i] for i in n.inputs) for n in ir.nodes]
        requires: list[bool] = []
        for n, slots in zip(ir.nodes, self._slots):
            requires.append(any(p.trainable for p in n.params) or any(requires[s] for s in slots))
        self._requires_grad = requires
        self._index = index
        self._trainable = [key for key, _, p in ir.weight_specs() if p.trainable]
        # a frozen parameter's penalty is not part of the loss (as in Keras: only trained weights' penalties)
        self._penalties = [(key, p.regularizer) for key, _, p in ir.weight_specs()
                           if p.trainable and p.regularizer is not None and p.regularizer.active]

    # -- passes ----------------------------------------------------------------------------------------
    def _params(self, weights: Mapping[str, np.ndarray]) -> dict[str, A.Value]:
        return {key: A.array(weights[key], self.mode) for key, _, _ in self.ir.weight_specs()}

    def _forward(self, params, inputs, training, masks) -> tuple[list, list, Pass]:
        ctx = Pass(self.mode, training, dict(masks or {}))
        values: list[Any] = [None] * len(self.ir.nodes)
        caches: list[Any] = [None] * len(self.ir.nodes)
        for i, (node, slots) in enumerate(zip(self.ir.nodes, self._slots)):
            forward = OPS[node.op][0]
            if node.op == "input":
                if node.name not in inputs:
                    raise ValueError(f"inputs must be given for {list(self.ir.inputs)} (received {sorted(inputs)})")
                xs = [A.array(inputs[node.name], self.mode)]
            else:
                xs = [values[s] for s in slots]
            node_params = {p.name: params[f"{node.name}/{p.name}"] for p in node.params}
            values[i], caches[i] = forward(node, xs, node_params, ctx)
        return values, caches, ctx

    def forward(self, weights: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], *, training: bool = False,
                dropout_masks: Mapping[str, np.ndarray] | None = None) -> Evaluation:
        """Outputs (logits) and, in training mode, the moving statistics after the pass."""
        params = self._params(weights)
        values, _, ctx = self._forward(params, inputs, training, dropout_masks)
        return Evaluation(self._outputs(values), self._moving(params, ctx))

    def loss_and_gradients(self, weights: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
                           targets: Mapping[str, np.ndarray], *, sample_weight: np.ndarray | None = None,
                           training: bool = True, dropout_masks: Mapping[str, np.ndarray] | None = None,
                           gradients: bool = True, wrt_inputs: bool = False) -> Evaluation:
        """The losses and (unless `gradients` is false) the gradient of the total loss for every trainable
        parameter (and, with `wrt_inputs`, for every input), with the outputs and moving statistics of the
        same pass."""
        params = self._params(weights)
        values, caches, ctx = self._forward(params, inputs, training, dropout_masks)
        outputs = [(i, o) for i, o in enumerate(self.ir.outputs) if o.loss is not None]
        if not outputs:
            raise ValueError(f"model {self.ir.name!r} has no output with a loss")
        dvalues: list[Any] = [None] * len(self.ir.nodes)
        total = A.const(0.0, self.mode)
        losses: dict[str, A.Value] = {}
        for _, out in outputs:
            if out.name not in targets:
                raise ValueError(f"targets must be given for {[o.name for _, o in outputs]} (received {sorted(targets)})")
            slot = self._index[out.name]
            value, grad = reduced(out.loss, out.head, values[slot], targets[out.name], sample_weight, self.mode)
            losses[f"{out.name}_loss"] = value
            if out.loss_weight != 1.0:
                weight = A.const(out.loss_weight, self.mode)
                value, grad = value * weight, grad * weight
            total = value if len(outputs) == 1 else total + value
            dvalues[slot] = grad if dvalues[slot] is None else dvalues[slot] + grad
        penalty_grads: dict[str, A.Value] = {}
        for key, regularizer in self._penalties:
            value, grad = penalty(regularizer, params[key], self.mode)
            total = total + value
            penalty_grads[key] = grad
        result = {"loss": total}
        if len(self.ir.outputs) > 1:
            result.update(losses)
        evaluation = Evaluation(self._outputs(values), self._moving(params, ctx), result)
        if gradients:
            grads = self._backward(params, caches, dvalues, ctx, wrt_inputs)
            for key, g in penalty_grads.items():
                if key in self._trainable:
                    grads[key] = g if key not in grads else grads[key] + g
            evaluation.gradients = {key: grads[key] if key in grads else A.zeros_like(params[key])
                                    for key in self._trainable}
            if wrt_inputs:
                evaluation.input_gradients = {
                    name: dvalues[self._index[name]] if dvalues[self._index[name]] is not None
                    else A.zeros_like(A.array(inputs[name], self.mode)) for name in self.ir.inputs}
        return evaluation

    # -- helpers ---------------------------------------------------------------------------------------------
    def _backward(self, params, caches, dvalues, ctx, wrt_inputs: bool = False) -> dict[str, A.Value]:
        requires = self._requires_grad
        if wrt_inputs:  # every node depends on an input
            requires = [True] * len(requires)
        grads: dict[str, A.Value] = {}
        for i in range(len(self.ir.nodes) - 1, -1, -1):
            node, slots, dy = self.ir.nodes[i], self._slots[i], dvalues[i]
            if dy is None or not slots or not requires[i]:
                continue
            need = [requires[s] for s in slots]
            node_params = {p.name: params[f"{node.name}/{p.name}"] for p in node.params}
            dxs, dparams = OPS[node.op][1](node, dy, caches[i], node_params, ctx, need)
            for name, g in dparams.items():
                grads[f"{node.name}/{name}"] = g
            for s, needed, dx in zip(slots, need, dxs):
                if needed and dx is not None:
                    dvalues[s] = dx if dvalues[s] is None else dvalues[s] + dx
        return grads

    def _outputs(self, values: list) -> dict[str, A.Value]:
        return {o.name: values[self._index[o.name]] for o in self.ir.outputs}

    def _moving(self, params, ctx: Pass) -> dict[str, A.Value]:
        keys = [key for key, _, p in self.ir.weight_specs() if not p.trainable]
        return {key: ctx.moving.get(key, params[key]) for key in keys}
