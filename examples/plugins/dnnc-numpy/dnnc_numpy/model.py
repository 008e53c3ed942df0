"""NumpyModel: a dnnc CompiledModel computed with NumPy only, by hand-written backpropagation.

The graph is the IR's node list in topological order.  A forward pass runs
each node's layer and keeps its cache; the backward pass walks the nodes in
reverse, starting from ∂L/∂output of every output with a loss, and adds up
the gradients flowing into each value (a value read by several nodes gets the
sum).  Nodes on no path from a trainable parameter to a loss are skipped, and
so is ∂L/∂x of layers whose inputs do not depend on a parameter (e.g. the
data), which saves the largest matrix product of the first layer.

The total loss is Σ_outputs loss_weight·loss_o + Σ l1·Σ|w| + l2·Σw² over the
parameters with a regularizer; the penalty's gradient is l1·sign(w) + 2·l2·w.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dnnc.backends.base import (Arrays, BatchChecks, StepResult, check_same_graph, check_weights, loss_keys,
                                named_losses, penalties, split_optimizer_state)
from dnnc.compiler.ir import ModelIR

from .artifact import write_artifact
from .layers import Layer, make_layer
from .losses import input_kind, reduced_loss
from .optimizers import Optimizer, make_optimizer


class NumpyModel:
    """A dnnc model run by NumPy (float32 by default; ``dtype=np.float64`` for gradient checks)."""

    backend_name = "numpy"

    def __init__(self, ir: ModelIR, weights: Arrays, *, dtype: Any = np.float32) -> None:
        check_weights(ir, weights)
        self.ir = ir
        self.dtype = np.dtype(dtype)
        self.seed = ir.training.seed if ir.training is not None else 0
        #: The model's own generator: dropout draws its masks from it when none are given.
        self.rng = np.random.default_rng(self.seed)
        #: Canonical weights "node/param" → array; layers hold references, updates are in place.
        self.weights: dict[str, np.ndarray] = {key: np.zeros(p.shape, self.dtype) for key, _, p in ir.weight_specs()}

        index = {n.name: i for i, n in enumerate(ir.nodes)}
        self.layers: list[Layer] = []
        self._slots: list[tuple[int, ...]] = []
        for node in ir.nodes:
            params = {p.name: self.weights[f"{node.name}/{p.name}"] for p in node.params}
            self.layers.append(make_layer(node, ir, params, self.rng))
            self._slots.append(tuple(index[i] for i in node.inputs))
        self._input_slots = {name: index[name] for name in ir.inputs}
        self._output_slots = [index[o.name] for o in ir.outputs]
        #: the shared checks of inputs, targets and dropout masks (dnnc.backends.base.BatchChecks)
        self._checks = BatchChecks(ir)
        self._loss_outputs = list(self._checks.loss_outputs)
        for _, o in self._loss_outputs:
            input_kind(o.loss, o.head)  # fail at build time on an unknown loss or a wrong head
        self._loss_keys = loss_keys(ir)
        self._bind_trainable()
        self.set_weights(weights)

    def _bind_trainable(self) -> None:
        """The trained parameters, their penalties, which nodes need gradients and a fresh optimizer, from the
        IR's trainable flags."""
        ir = self.ir
        requires_grad: list[bool] = []
        for node, slots in zip(ir.nodes, self._slots):
            requires_grad.append(any(p.trainable for p in node.params) or any(requires_grad[s] for s in slots))
        #: whether each node's output depends on a trainable parameter
        self._requires_grad = requires_grad
        self.trainable: list[tuple[str, np.ndarray]] = [
            (key, self.weights[key]) for key, _, p in ir.weight_specs() if p.trainable
        ]
        self._trainable_keys = frozenset(key for key, _ in self.trainable)
        #: (key, l1, l2) of every regularised trained parameter (dnnc.backends.base.penalties)
        self._penalties: list[tuple[str, float, float]] = [(p.key, p.l1, p.l2) for p in penalties(ir)]
        self.optimizer: Optimizer | None = make_optimizer(ir.training.optimizer) if ir.training is not None else None

    def set_trainable(self, ir: ModelIR) -> None:
        """Adopt the trainable flags of `ir` (this model's IR with nodes frozen or unfrozen); the optimizer starts
        afresh (new slots, iteration count 0)."""
        check_same_graph(self.ir, ir)
        self.ir = ir
        for node, layer in zip(ir.nodes, self.layers):
            layer.node = node
            if node.op == "batch_norm":
                layer.inference_mode = bool(node.attrs.inference_mode)
        self._bind_trainable()

    # -- weights -------------------------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        return {key: np.array(w, dtype=np.float32, copy=True) for key, w in self.weights.items()}

    def set_weights(self, weights: Arrays) -> None:
        check_weights(self.ir, weights)
        for key, w in self.weights.items():
            np.copyto(w, np.asarray(weights[key]), casting="unsafe")

    # -- forward and backward ---------------------------------------------------
    def _run(self, inputs: Arrays, training: bool, masks: Arrays | None) -> tuple[list, list]:
        values: list[Any] = [None] * len(self.layers)
        caches: list[Any] = [None] * len(self.layers)
        for slot, x in zip(self._input_slots.values(), self._checks.inputs(inputs)):
            values[slot] = np.asarray(x, dtype=self.dtype)
        masks = self._checks.dropout_masks(masks)
        for i, (layer, slots) in enumerate(zip(self.layers, self._slots)):
            if not slots:  # a model input
                continue
            mask = masks.get(layer.node.name) if masks else None
            values[i], caches[i] = layer.forward([values[s] for s in slots], training, mask)
        return values, caches

    def _backward(self, caches: list, dvalues: list, every_value: bool = False) -> dict[str, np.ndarray]:
        """Fill ``dvalues`` (∂L/∂value per node slot) backwards and return the parameter gradients.

        With ``every_value`` the gradient reaches every node (the probe's need), not only
        the nodes on a path from a trainable parameter."""
        grads: dict[str, np.ndarray] = {}
        for i in range(len(self.layers) - 1, -1, -1):
            dy = dvalues[i]
            slots = self._slots[i]
            if dy is None or not slots or not (every_value or self._requires_grad[i]):
                continue
            layer = self.layers[i]
            need_dx = [every_value or self._requires_grad[s] for s in slots]
            dxs, dparams = layer.backward(dy, caches[i], need_dx)
            for name, g in dparams.items():
                grads[f"{layer.node.name}/{name}"] = g
            for s, need, dx in zip(slots, need_dx, dxs):
                if need and dx is not None:
                    dvalues[s] = dx if dvalues[s] is None else dvalues[s] + dx
        return grads

    def _losses(self, values: list, targets: Arrays, sample_weight, need_grad: bool):
        """(total, per-output losses, ∂total/∂value per node slot)."""
        given = self._checks.targets(targets)
        dvalues: list[Any] = [None] * len(self.layers)
        total = 0.0
        per_output = []
        for (i, out), target in zip(self._loss_outputs, given):
            slot = self._output_slots[i]
            value, grad = reduced_loss(out.loss, out.head, values[slot], np.asarray(target), sample_weight, need_grad)
            per_output.append(value)
            total += out.loss_weight * value
            if grad is not None:
                if out.loss_weight != 1.0:
                    grad = grad * out.loss_weight
                dvalues[slot] = grad if dvalues[slot] is None else dvalues[slot] + grad
        for key, l1, l2 in self._penalties:
            w = self.weights[key]
            if l1:
                total += l1 * float(np.abs(w).sum(dtype=np.float64))
            if l2:
                total += l2 * float(np.square(w, dtype=np.float64).sum())
        return total, per_output, dvalues

    def _penalty_gradients(self, grads: dict[str, np.ndarray]) -> None:
        """Add ∂penalty/∂w = l1·sign(w) + 2·l2·w (sign(0) = 0, as TF and torch) to the trainable weights."""
        for key, l1, l2 in self._penalties:
            if key not in self._trainable_keys:
                continue
            w = self.weights[key]
            g = np.zeros_like(w)
            if l1:
                g += l1 * np.sign(w)
            if l2:
                g += (2.0 * l2) * w
            grads[key] = g if key not in grads else grads[key] + g

    def _loss_values(self, total: float, per_output: list[float]) -> dict[str, float]:
        return named_losses(self._loss_keys, [total, *per_output])

    def _outputs(self, values: list) -> dict[str, np.ndarray]:
        return {o.name: values[s] for o, s in zip(self.ir.outputs, self._output_slots)}

    def _gradients(self, inputs, targets, sample_weight, training, masks):
        values, caches = self._run(inputs, training, masks)
        total, per_output, dvalues = self._losses(values, targets, sample_weight, True)
        grads = self._backward(caches, dvalues)
        self._penalty_gradients(grads)
        ordered = [grads[key] if key in grads else np.zeros_like(w) for key, w in self.trainable]
        return values, total, per_output, ordered

    # -- the CompiledModel operations -----------------------------------------
    def forward(self, inputs: Arrays, *, training: bool = False, dropout_masks: Arrays | None = None) -> dict[str, np.ndarray]:
        values, _ = self._run(inputs, training, dropout_masks)
        return self._outputs(values)

    def loss_and_gradients(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None,
                           training: bool = True, dropout_masks: Arrays | None = None,
                           ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        _, total, per_output, grads = self._gradients(inputs, targets, sample_weight, training, dropout_masks)
        result = {key: np.array(g, dtype=self.dtype, copy=True) for (key, _), g in zip(self.trainable, grads)}
        return self._loss_values(total, per_output), result

    def train_step(self, inputs: Arrays, targets: Arrays, *, learning_rate: float,
                   sample_weight: np.ndarray | None = None, dropout_masks: Arrays | None = None) -> StepResult:
        if self.optimizer is None:
            raise ValueError(f"model {self.ir.name!r} has no [training] section: cannot build its optimizer")
        values, total, per_output, grads = self._gradients(inputs, targets, sample_weight, True, dropout_masks)
        outputs = self._outputs(values)
        self.optimizer.step(self.trainable, grads, learning_rate)
        return StepResult(self._loss_values(total, per_output), outputs)

    def evaluate_step(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None) -> StepResult:
        values, _ = self._run(inputs, False, None)
        total, per_output, _ = self._losses(values, targets, sample_weight, False)
        return StepResult(self._loss_values(total, per_output), self._outputs(values))

    def probe(self, inputs: Arrays, targets: Arrays, *, nodes=None, pre_activations: bool = False):
        """Per-node outputs and gradients in inference mode (dnnc.backends.base.Probe; see .probe)."""
        from .probe import probe

        return probe(self, inputs, targets, nodes=nodes, pre_activations=pre_activations)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """``"<node>/<param>/<slot>"`` → slot (canonical layout), ``"iterations"`` and the optimizer's scalars
        (nadam: ``"u_product"``); empty before the first step."""
        return {} if self.optimizer is None else self.optimizer.state()

    def set_optimizer_state(self, state: Arrays) -> None:
        """Restore what :meth:`optimizer_state` returned (this backend's or another's: the keys are canonical)."""
        if self.optimizer is None:
            raise ValueError(f"model {self.ir.name!r} has no [training] section: it has no optimizer")
        slots, scalars = split_optimizer_state(state, self.ir)
        self.optimizer.load_state(slots, scalars, self.dtype)

    def random_state(self) -> dict[str, np.ndarray]:
        """The state of the generator dropout draws from, as UTF-8 JSON bytes: ``{"numpy_rng": uint8 array}``."""
        text = json.dumps(self.rng.bit_generator.state)
        return {"numpy_rng": np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()}

    def set_random_state(self, state: Arrays) -> None:
        if set(state) != {"numpy_rng"}:
            raise ValueError(f"a numpy random state holds 'numpy_rng' (received {sorted(state)})")
        self.rng.bit_generator.state = json.loads(np.asarray(state["numpy_rng"], dtype=np.uint8).tobytes())

    # -- introspection --------------------------------------------------------
    def layer_param_counts(self) -> dict[str, tuple[int, int]]:
        counts = {}
        for node in self.ir.nodes:
            arrays = [(p, self.weights[f"{node.name}/{p.name}"]) for p in node.params]
            counts[node.name] = (sum(a.size for p, a in arrays if p.trainable),
                                 sum(a.size for p, a in arrays if not p.trainable))
        return counts

    def summary(self) -> str:
        counts = self.layer_param_counts()
        rows = [("node", "numpy layer", "output shape", "trainable", "non-trainable")]
        for node, layer in zip(self.ir.nodes, self.layers):
            t, nt = counts[node.name]
            rows.append((node.name, layer.describe(), str((None, *node.shape)), f"{t:,}", f"{nt:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]

        def line(r):
            return "  ".join([f"{r[0]:<{widths[0]}}", f"{r[1]:<{widths[1]}}", f"{r[2]:<{widths[2]}}",
                              f"{r[3]:>{widths[3]}}", f"{r[4]:>{widths[4]}}"])

        rule = "-" * len(line(rows[0]))
        total_t = sum(t for t, _ in counts.values())
        total_nt = sum(nt for _, nt in counts.values())
        return "\n".join([f"numpy model {self.ir.name!r} ({self.dtype.name})", rule, line(rows[0]), rule,
                          *(line(r) for r in rows[1:]), rule,
                          f"total parameters: {total_t + total_nt:,} (trainable {total_t:,}, non-trainable {total_nt:,})"])

    # -- artifacts ------------------------------------------------------------
    def save(self, path: Path) -> list[Path]:
        """Write ``path`` (a ``.npz``): the canonical weights and the IR JSON."""
        return [write_artifact(Path(path), self.ir, self.get_weights())]
