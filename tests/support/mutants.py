"""Mutant backends: a real backend with one known defect planted, to measure what `dnnc conform` detects.

    from support.mutants import MUTANTS, mutant_backend, mutation_ir, installed
    backend = mutant_backend("batch_norm_momentum_0.9", "torch")   # a Backend named "torch~batch_norm_momentum_0.9"
    with installed(backend):                                        # registered, so run_conform finds it by name
        report = run_conform(mutation_ir("batch_norm_momentum_0.9"), ["torch", backend.name], options)

Every mutant wraps the base backend's model (``MutantModel``) and changes one thing, the way a real bug
would: its ``ir`` stays the compiled IR (so a bug is not given away by the IR check), its parameter counts
are the base framework's own.  The defect is planted in one of four places:

* the IR the base backend builds from (``_IR_MUTATIONS``): a hyperparameter or a formula choice the
  backend reads from the IR (batch-norm momentum and epsilon, Adam's epsilon, the leaky-ReLU slope, an L2
  factor, a final softmax left in the model, label smoothing);
* the weights the model is built with (``glorot_fan_in``: the backend draws its own kernels);
* the step (``_StepMutation``): what the backend does around the base model's calls (the moving variance
  unbiased, dropout masks not rescaled, the learning rate of the previous step, small batches skipped);
* the optimizer (``_OptimizerMutation``): ``train_step`` recomposed from the base model's
  ``loss_and_gradients`` and dnnc's NumPy optimizer with one formula changed.

``mutant_backend("none", base)`` is the control: the same wrapper with no defect (it must pass).
``recomposed_control`` is the control of the optimizer mutants (the recomposed step, no formula changed).

:func:`mutation_ir` gives the spec each mutant is judged on (:data:`MUTATION_SPECS`: MNIST, small layers,
batch 64, every feature a mutant needs: batch norm, dropout, leaky ReLU, an L2 kernel penalty, Adam with
decoupled weight decay and a decaying learning rate, categorical cross-entropy; SGD with Nesterov
momentum for the Nesterov mutant).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from dnnc.backends.base import Arrays, StepResult
from dnnc.compiler.ir import ModelIR

CONTROL = "none"
RECOMPOSED_CONTROL = "recomposed_control"

MUTANTS: dict[str, str] = {
    "batch_norm_momentum_0.9": "batch norm updates its moving statistics with momentum 0.9 instead of the IR's 0.99",
    "batch_norm_epsilon_1e-5": "batch norm adds epsilon 1e-5 to the variance instead of the IR's 1e-3",
    "batch_norm_unbiased_variance": "the moving variance is updated with the unbiased batch variance (·N/(N−1))",
    "adam_epsilon_1e-8": "Adam uses epsilon 1e-8 instead of the IR's 1e-7",
    "adam_epsilon_inside_sqrt": "Adam divides by sqrt(v + ε) instead of sqrt(v) + ε",
    "leaky_relu_slope_0.2": "leaky ReLU with slope 0.2 instead of the IR's 0.01",
    "dropout_not_rescaled": "dropout keeps x·mask instead of x·mask/(1 − rate)",
    "dropout_at_inference": "dropout stays active at inference",
    "l2_penalty_dropped": "the L2 kernel penalty is left out of the loss",
    "weight_decay_as_penalty": "weight decay added to the gradient (wd·w, coupled) instead of decoupled w ← w − lr·wd·w",
    "glorot_fan_in": "Glorot-uniform kernels drawn with fan-in only (limit sqrt(3/fan_in)) instead of dnnc's weights",
    "schedule_one_step_late": "every step uses the learning rate of the previous step",
    "nesterov_torch_formula": "SGD Nesterov momentum as torch.optim.SGD computes it (buffer in gradient units)",
    "softmax_twice": "the output layer keeps its softmax, so the loss applies softmax to probabilities",
    "label_smoothing_0.1": "the loss uses label smoothing 0.1 instead of 0",
    "last_partial_batch_dropped": "a batch smaller than the batch size is skipped (no update)",
}
"""Mutant name → the defect it plants (every mutant issue 11 lists)."""

#: Mutants that need a base-framework hook (the others work with any base backend).
TORCH_ONLY = frozenset({"dropout_at_inference"})


# ---------------------------------------------------------------------------
# the specs the mutants are judged on
# ---------------------------------------------------------------------------

ADAM_SPEC: dict[str, Any] = {
    "spec_version": 1,
    "name": "mutation-adam",
    "data": {"dataset": "mnist", "divide_by": 255, "labels": "one_hot", "validation": {"last": 10000}},
    "model": {
        "input_shape": [784],
        "layers": [
            {"type": "dense", "units": 32, "activation": {"type": "leaky_relu"},
             "kernel_regularizer": {"type": "l2", "l2": 0.001}},
            {"type": "batch_norm"},
            {"type": "dropout", "rate": 0.25},
            {"type": "dense", "units": 16, "activation": "tanh"},
            {"type": "dense", "units": 10, "activation": "softmax"},
        ],
    },
    "training": {
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
        "optimizer": {"type": "adamw", "weight_decay": 0.004,
                      "learning_rate": {"type": "exponential_decay", "initial_learning_rate": 0.002,
                                        "decay_steps": 4, "decay_rate": 0.5}},
        "batch_size": 64,
        "epochs": 2,
        "seed": 0,
    },
}
"""Adam(W) with decoupled weight decay and a learning rate that changes every step, batch norm, dropout,
leaky ReLU, an L2 kernel penalty, categorical cross-entropy on one-hot MNIST labels."""

SGD_SPEC: dict[str, Any] = copy.deepcopy(ADAM_SPEC)
SGD_SPEC["name"] = "mutation-sgd-nesterov"
SGD_SPEC["training"]["optimizer"] = {
    "type": "sgd", "momentum": 0.9, "nesterov": True,
    "learning_rate": {"type": "exponential_decay", "initial_learning_rate": 0.05, "decay_steps": 4, "decay_rate": 0.5}}
"""The same model with SGD, Nesterov momentum and a decaying learning rate (torch's and Keras's Nesterov
formulas agree while the learning rate is constant)."""

MUTATION_SPECS: dict[str, dict[str, Any]] = {"adam": ADAM_SPEC, "sgd": SGD_SPEC}

#: Mutant → the key of the spec it is judged on (default "adam").
MUTANT_SPEC: dict[str, str] = {"nesterov_torch_formula": "sgd"}


def mutation_spec(name: str) -> dict[str, Any]:
    """The spec (a dict, as `compile_spec` takes) mutant `name` is judged on."""
    _check_name(name)
    return copy.deepcopy(MUTATION_SPECS[MUTANT_SPEC.get(name, "adam")])


def mutation_ir(name: str) -> ModelIR:
    """The compiled IR of :func:`mutation_spec`."""
    from dnnc.compiler.compile import compile_spec

    spec = mutation_spec(name)
    return compile_spec(spec, name=spec["name"])


# ---------------------------------------------------------------------------
# IR mutations
# ---------------------------------------------------------------------------

def _with_nodes(ir: ModelIR, change: Callable[[Any], Any]) -> ModelIR:
    return ir.model_copy(update={"nodes": tuple(change(n) for n in ir.nodes)})


def _attrs(node: Any, **update: Any) -> Any:
    return node.model_copy(update={"attrs": node.attrs.model_copy(update=update)})


def _batch_norm(**update: Any) -> Callable[[ModelIR], ModelIR]:
    return lambda ir: _with_nodes(ir, lambda n: _attrs(n, **update) if n.op == "batch_norm" else n)


def _leaky_slope(ir: ModelIR) -> ModelIR:
    def change(n):
        act = getattr(n.attrs, "activation", None)
        if act is not None and act.type == "leaky_relu":
            return _attrs(n, activation=act.model_copy(update={"negative_slope": 0.2}))
        return n

    return _with_nodes(ir, change)


def _optimizer(**update: Any) -> Callable[[ModelIR], ModelIR]:
    def mutate(ir: ModelIR) -> ModelIR:
        training = ir.training.model_copy(update={"optimizer": {**ir.training.optimizer, **update}})
        return ir.model_copy(update={"training": training})

    return mutate


def _drop_l2(ir: ModelIR) -> ModelIR:
    def change(n):
        params = tuple(p.model_copy(update={"regularizer": p.regularizer.model_copy(update={"l2": 0.0})})
                       if p.regularizer is not None else p for p in n.params)
        return n.model_copy(update={"params": params})

    return _with_nodes(ir, change)


def _softmax_kept(ir: ModelIR) -> ModelIR:
    from dnnc.compiler.ir_types import activation_ir

    heads = {o.name for o in ir.outputs if o.head == "softmax"}
    return _with_nodes(ir, lambda n: _attrs(n, activation=activation_ir({"type": "softmax"})) if n.name in heads else n)


def _label_smoothing(ir: ModelIR) -> ModelIR:
    outputs = tuple(o.model_copy(update={"loss": {**o.loss, "label_smoothing": 0.1}}) if o.loss else o
                    for o in ir.outputs)
    return ir.model_copy(update={"outputs": outputs})


_IR_MUTATIONS: dict[str, Callable[[ModelIR], ModelIR]] = {
    "batch_norm_momentum_0.9": _batch_norm(momentum=0.9),
    "batch_norm_epsilon_1e-5": _batch_norm(epsilon=1e-5),
    "adam_epsilon_1e-8": _optimizer(epsilon=1e-8),
    "leaky_relu_slope_0.2": _leaky_slope,
    "l2_penalty_dropped": _drop_l2,
    "softmax_twice": _softmax_kept,
    "label_smoothing_0.1": _label_smoothing,
}


def _glorot_fan_in(ir: ModelIR, weights: Arrays) -> dict[str, np.ndarray]:
    """dnnc's weights with every Glorot kernel redrawn as U(±sqrt(3/fan_in)) (the backend's own draw)."""
    rng = np.random.default_rng(12345)
    out = {k: np.array(v, dtype=np.float32, copy=True) for k, v in weights.items()}
    for key, _, p in ir.weight_specs():
        if p.init.type == "glorot_uniform" and len(p.shape) == 2:
            limit = np.sqrt(3.0 / p.shape[0])
            out[key] = rng.uniform(-limit, limit, p.shape).astype(np.float32)
    return out


# ---------------------------------------------------------------------------
# the wrapper
# ---------------------------------------------------------------------------

def _draw_masks(ir: ModelIR, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    return {n.name: (rng.random((batch, *n.shape)) >= n.attrs.rate).astype(np.float32)
            for n in ir.nodes if n.op == "dropout"}


def _rows(inputs: Arrays) -> int:
    return int(np.shape(next(iter(inputs.values())))[0])


@dataclass
class MutantModel:
    """A CompiledModel: the base backend's model with one defect (see the module docstring)."""

    inner: Any
    ir: ModelIR
    mutant: str
    backend_name: str
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))
    optimizer: Any = None
    previous_lr: float | None = None

    # -- delegated ---------------------------------------------------------------------------------
    def get_weights(self):
        return self.inner.get_weights()

    def set_weights(self, weights: Arrays) -> None:
        self.inner.set_weights(weights)

    def optimizer_state(self):
        return self.optimizer.state() if self.optimizer is not None else self.inner.optimizer_state()

    def layer_param_counts(self):
        return self.inner.layer_param_counts()

    def summary(self) -> str:
        return f"mutant {self.mutant!r} of\n" + self.inner.summary()

    def save(self, path):
        return self.inner.save(path)

    def prepare_training(self) -> None:
        if hasattr(self.inner, "prepare_training"):
            self.inner.prepare_training()

    # -- masks -------------------------------------------------------------------------------------------
    def _masks(self, inputs: Arrays, masks: Arrays | None, training: bool) -> Arrays | None:
        """The masks the base model gets: dropout_not_rescaled passes mask·(1 − rate), so the base computes
        x·mask; without masks it draws its own so the defect is active in every training-mode call."""
        if self.mutant != "dropout_not_rescaled" or not training:
            return masks
        if not masks:
            masks = _draw_masks(self.ir, self.rng, _rows(inputs))
        rates = {n.name: n.attrs.rate for n in self.ir.nodes if n.op == "dropout"}
        return {k: np.asarray(m, np.float32) * np.float32(1.0 - rates[k]) for k, m in masks.items()}

    # -- moving variance -------------------------------------------------------------------------------
    def _unbiased(self, before: dict[str, np.ndarray], rows: int) -> None:
        """moving_variance ← m·v_before + (v_after − m·v_before)·N/(N − 1): the batch variance made unbiased."""
        after = self.inner.get_weights()
        for n in self.ir.nodes:
            if n.op != "batch_norm":
                continue
            count = rows * int(np.prod(n.shape[:-1], dtype=np.int64))
            key, m = f"{n.name}/moving_variance", n.attrs.momentum
            old = before[key].astype(np.float64)
            after[key] = (m * old + (after[key] - m * old) * count / (count - 1)).astype(np.float32)
        self.inner.set_weights(after)

    def _training_call(self, inputs: Arrays, call: Callable[[], Any]) -> Any:
        if self.mutant != "batch_norm_unbiased_variance":
            return call()
        before = self.inner.get_weights()
        result = call()
        self._unbiased(before, _rows(inputs))
        return result

    # -- the CompiledModel operations --------------------------------------------------------------
    def forward(self, inputs, *, training=False, dropout_masks=None):
        masks = self._masks(inputs, dropout_masks, training)
        if not training:
            return self.inner.forward(inputs, training=False, dropout_masks=masks)
        return self._training_call(inputs, lambda: self.inner.forward(inputs, training=True, dropout_masks=masks))

    def loss_and_gradients(self, inputs, targets, *, sample_weight=None, training=True, dropout_masks=None):
        masks = self._masks(inputs, dropout_masks, training)
        call = lambda: self.inner.loss_and_gradients(inputs, targets, sample_weight=sample_weight, training=training,
                                                      dropout_masks=masks)
        return self._training_call(inputs, call) if training else call()

    def evaluate_step(self, inputs, targets, *, sample_weight=None):
        return self.inner.evaluate_step(inputs, targets, sample_weight=sample_weight)

    def train_step(self, inputs, targets, *, learning_rate, sample_weight=None, dropout_masks=None) -> StepResult:
        lr = learning_rate
        if self.mutant == "schedule_one_step_late":
            lr, self.previous_lr = (learning_rate if self.previous_lr is None else self.previous_lr), learning_rate
        if self.mutant == "last_partial_batch_dropped" and _rows(inputs) < self.ir.training.batch_size:
            return self.inner.evaluate_step(inputs, targets, sample_weight=sample_weight)
        if self.optimizer is not None:
            return self._recomposed_step(inputs, targets, lr, sample_weight, dropout_masks)
        masks = self._masks(inputs, dropout_masks, True)
        return self._training_call(inputs, lambda: self.inner.train_step(
            inputs, targets, learning_rate=lr, sample_weight=sample_weight, dropout_masks=masks))

    def _recomposed_step(self, inputs, targets, lr, sample_weight, dropout_masks) -> StepResult:
        """The training-mode outputs, then loss_and_gradients (the same masks, moving statistics updated once),
        then the NumPy optimizer on the trainable weights."""
        masks = dropout_masks or _draw_masks(self.ir, self.rng, _rows(inputs)) or None
        before = self.inner.get_weights()
        outputs = self.inner.forward(inputs, training=True, dropout_masks=masks)
        self.inner.set_weights(before)
        losses, grads = self.inner.loss_and_gradients(inputs, targets, sample_weight=sample_weight, training=True,
                                                      dropout_masks=masks)
        weights = self.inner.get_weights()
        params = {k: weights[k].astype(np.float32) for k, _, p in self.ir.weight_specs() if p.trainable}
        self.optimizer.step(params, grads, lr)
        weights.update(params)
        self.inner.set_weights(weights)
        return StepResult(losses, outputs)


# ---------------------------------------------------------------------------
# optimizer mutations (dnnc's NumPy optimizers with one formula changed)
# ---------------------------------------------------------------------------

def _optimizer_for(mutant: str, config: dict[str, Any]):
    from dnnc.numerics import optimizers as O

    if mutant == "adam_epsilon_inside_sqrt":
        class InsideSqrt(O.REFERENCE_OPTIMIZERS[config["type"]]):
            def _update(self, st, w, g, lr, t):
                b1, b2, eps = self.config["beta_1"], self.config["beta_2"], self.config["epsilon"]
                m, v = O._zeros(st, "m", w), O._zeros(st, "v", w)
                alpha = lr * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)
                m += (g - m) * (1.0 - b1)
                v += (g * g - v) * (1.0 - b2)
                return w - m * alpha / np.sqrt(v + eps)

        return InsideSqrt(config)
    if mutant == "weight_decay_as_penalty":
        class Coupled(O.REFERENCE_OPTIMIZERS[config["type"]]):
            def step(self, params, grads, lr):
                wd = self.config["weight_decay"]
                coupled = {k: np.asarray(g, np.float64) + wd * params[k].astype(np.float64) for k, g in grads.items()}
                saved, self.config["weight_decay"] = wd, 0.0
                try:
                    super().step(params, coupled, lr)
                finally:
                    self.config["weight_decay"] = saved

        return Coupled(config)
    if mutant == "nesterov_torch_formula":
        class TorchNesterov(O.SGD):
            def _update(self, st, w, g, lr, t):
                mu = self.config["momentum"]
                b = O._zeros(st, "momentum_buffer", w)
                b[...] = mu * b + g
                return w - lr * (g + mu * b)

        return TorchNesterov(config)
    return O.make_reference_optimizer(config)


#: Mutants whose train_step is recomposed with a NumPy optimizer.
_OPTIMIZER_MUTANTS = frozenset({"adam_epsilon_inside_sqrt", "weight_decay_as_penalty", "nesterov_torch_formula",
                                RECOMPOSED_CONTROL})


class _NumpyOptimizerState:
    """`optimizer_state()` for a recomposed step: the NumPy optimizer's slots in canonical form."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer

    def step(self, params, grads, lr):
        self.optimizer.step(params, grads, lr)

    def state(self) -> dict[str, np.ndarray]:
        out = {f"{key}/{slot}": np.asarray(v) for key, slots in self.optimizer.state.items() for slot, v in slots.items()}
        if out:
            out["iterations"] = np.asarray(self.optimizer.iterations, np.int64)
        return out


# ---------------------------------------------------------------------------
# the backend
# ---------------------------------------------------------------------------

class MutantBackend:
    """A Backend: builds the base backend's model and plants the defect (named ``<base>~<mutant>``)."""

    def __init__(self, mutant: str, base: Any) -> None:
        self.mutant, self.base = mutant, base
        self.name = f"{base.name}~{mutant}"
        self.supported_ops = base.supported_ops
        self.artifact_suffix = base.artifact_suffix

    def status(self):
        return self.base.status()

    def build(self, ir: ModelIR, weights: Arrays) -> MutantModel:
        inner_ir = _IR_MUTATIONS.get(self.mutant, lambda x: x)(ir)
        if self.mutant == "glorot_fan_in":
            weights = _glorot_fan_in(ir, weights)
        inner = self.base.build(inner_ir, weights)
        model = MutantModel(inner, ir, self.mutant, self.name)
        if self.mutant in _OPTIMIZER_MUTANTS and ir.training is not None:
            model.optimizer = _NumpyOptimizerState(_optimizer_for(self.mutant, dict(ir.training.optimizer)))
        if self.mutant == "dropout_at_inference":
            _keep_dropout_active(inner, ir)
        return model

    def load(self, path):
        return self.base.load(path)


def _keep_dropout_active(inner: Any, ir: ModelIR) -> None:
    """torch: every dropout module draws a mask (from the model's generator) in inference mode too."""
    import types

    for n in ir.nodes:
        if n.op != "dropout":
            continue
        module = inner.graph.module_for(n.name)
        original = type(module).forward

        def forward(self, x, mask=None, _original=original):
            was, self.training = self.training, True
            try:
                return _original(self, x, mask)
            finally:
                self.training = was

        module.forward = types.MethodType(forward, module)


def _check_name(name: str) -> None:
    if name not in MUTANTS and name not in (CONTROL, RECOMPOSED_CONTROL):
        raise ValueError(f"unknown mutant {name!r} (known: {', '.join(sorted(MUTANTS))}, {CONTROL}, "
                         f"{RECOMPOSED_CONTROL})")


def mutant_backend(name: str, base: str) -> MutantBackend:
    """The backend `base` ("torch" or "keras") with mutant `name` planted (`CONTROL`: no defect)."""
    _check_name(name)
    if name in TORCH_ONLY and base != "torch":
        raise ValueError(f"mutant {name!r} needs the torch backend as its base (received {base!r})")
    from dnnc.plugins.manager import get_registry

    return MutantBackend(name, get_registry().available_backend(base))


@contextlib.contextmanager
def installed(*backends: Any) -> Iterator[None]:
    """Register `backends` in the process's registry (so `run_conform` resolves them by name) for a block."""
    from dnnc.plugins.manager import get_registry

    registry = get_registry()
    added = [b.name for b in backends if b.name not in registry.backends]
    for b in backends:
        registry.backends[b.name] = b
    try:
        yield
    finally:
        for name in added:
            registry.backends.pop(name, None)
