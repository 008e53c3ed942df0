"""The interface every backend implements (built-in or third-party).

A backend turns a :class:`~dnnc.compiler.ir.ModelIR` plus canonical initial
weights into a native model and exposes the handful of operations the shared
runner and the conformance suite need.  Data, batching, the batch order,
learning-rate schedules, metrics and callbacks all live in dnnc, not in the
backend.

Arrays crossing this interface are NumPy: features ``float32`` (token inputs: ``int64`` ids); class labels
``int64`` of shape (N,); one-hot and regression targets ``float32`` (N, k);
sample weights ``float32`` (N,) or ``None``.  Inputs and targets are dicts
keyed by the IR's input names and output names.  Weights are dicts keyed by
canonical names ``"<node>/<param>"`` in the IR's canonical layout (see
:mod:`dnnc.compiler.ir`), including batch-norm moving statistics.

This module is public API for backend authors: besides the protocols it holds
what every backend shares, so that all of them check and name things alike —
:func:`check_weights`, :class:`BatchChecks` (inputs, targets, dropout masks, with
one set of error messages), :func:`penalties` (which parameters carry L1/L2
factors) and :func:`loss_keys` / :func:`named_losses` (the keys of
:attr:`StepResult.losses`) — and the optional per-node probe (:class:`Probe`,
:func:`probe_nodes`, :func:`run_probe`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ..compiler.dropout_sites import dropout_sites
from ..compiler.embedding_ops import check_token_ids, token_inputs
from ..compiler.ir import ModelIR, OutputIR

Arrays = Mapping[str, np.ndarray]


@dataclass
class StepResult:
    """What one training or evaluation step reports.

    ``losses`` holds ``"loss"`` (the total: Σ loss_weight·output loss + regularisation
    penalties) and, for models with several outputs, ``"<output>_loss"`` for each
    output (without penalties).  ``outputs`` holds each output's logits (the model
    output before its head), computed in the same forward pass (for a training step:
    the training-mode pass *before* the update, as Keras reports training metrics).
    """

    losses: dict[str, float]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class CompiledModel(Protocol):
    """A native model built from an IR by a backend."""

    ir: ModelIR
    backend_name: str

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every parameter (trainable and moving statistics) in the canonical layout."""

    def set_weights(self, weights: Arrays) -> None:
        """Load weights in the canonical layout; unknown or missing keys, or wrong shapes, raise ValueError."""

    def forward(self, inputs: Arrays, *, training: bool = False, dropout_masks: Arrays | None = None) -> dict[str, np.ndarray]:
        """Outputs (logits) for a batch.

        ``training=True`` is the training-mode pass: batch statistics in batch norm
        (and one update of its moving statistics), dropout active.  With
        ``dropout_masks`` (node name → keep mask of 0/1 of the node's output shape
        with the batch axis), dropout uses those masks instead of the framework's RNG.
        """

    def loss_and_gradients(
        self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None,
        training: bool = True, dropout_masks: Arrays | None = None,
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """The losses (as in :class:`StepResult`) and the gradient of the total loss
        with respect to every trainable parameter (canonical keys and layout), without
        updating the weights (moving statistics do update in training mode)."""

    def train_step(
        self, inputs: Arrays, targets: Arrays, *, learning_rate: float,
        sample_weight: np.ndarray | None = None, dropout_masks: Arrays | None = None,
    ) -> StepResult:
        """One optimizer step with the current learning rate (computed by dnnc)."""

    def evaluate_step(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None) -> StepResult:
        """Inference-mode losses and outputs for a batch (no update)."""

    # Optional: ``prepare_training(self) -> None`` builds the optimizer (and anything else the
    # first train_step would build) ahead of time; the runner calls it, when present, before
    # the first epoch so that one-time set-up is not counted in the epoch times.

    # Optional, for ``training.compile``: ``compiled`` (a property: how the training step is compiled, a
    # short text the run manifest records, or None) and ``warm_up_training(self, batches) -> None``, which
    # compiles the step for the shapes of `batches` — (inputs, targets, sample weight) of each batch size
    # the epochs will see — before the first epoch and leaves the model exactly as it was.

    # Optional: ``probe(self, inputs, targets, *, nodes=None, pre_activations=False) -> Probe``:
    # every listed node's output, ∂loss/∂output and ∂loss/∂parameter for one batch, in inference
    # mode (see :class:`Probe`); `dnnc inspect` and the histograms callback call it through
    # :func:`run_probe`, which names the backend when it is absent.

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's state in canonical form (for checkpoints and conformance); empty before the first step.

        Keys: ``"<node>/<param>/<slot>"`` (slot names of :mod:`dnnc.numerics.optimizers`: ``m``, ``v``,
        ``momentum``…, arrays in the parameter's canonical layout), ``"iterations"`` (int64, the updates
        done) and the optimizer's other scalars (``"u_product"`` for nadam, float64).
        """

    # Optional, for resuming runs (``dnnc resume``) and unfreezing layers; the runner checks that they
    # exist and fails with a clear message (see OPTIONAL_METHODS) when a backend lacks one:
    #
    # ``set_optimizer_state(self, state: Arrays) -> None`` restores what ``optimizer_state()`` returned —
    #     this backend's or another's (the keys are canonical); an empty mapping means a fresh optimizer.
    #     Unknown keys or wrong shapes raise ValueError (:func:`split_optimizer_state` does the checks).
    # ``random_state(self) -> dict[str, np.ndarray]`` / ``set_random_state(self, state) -> None``: the
    #     state of the model's own random generators (dropout without strict-parity masks), in the
    #     backend's own keys; restored only on the backend that wrote it.
    # ``set_trainable(self, ir: ModelIR) -> None`` adopts the trainable flags of ``ir``, this model's IR
    #     with nodes frozen or unfrozen (:func:`dnnc.compiler.freezing.with_trainable`): the parameters
    #     flagged trainable get gradients, the others do not, ops follow their trainability-dependent
    #     attributes (a batch norm's ``inference_mode``), and the optimizer starts afresh over the new set
    #     of trained parameters (new slots, iteration count 0 — as recompiling a Keras model does).

    # Optional, for `dnnc export`: ``export_onnx(self, path, *, logits=False, opset) -> str`` writes the
    #     inference graph as an ONNX file with the framework's own exporter (inputs and outputs named as in
    #     the IR, batch axis dynamic, the output heads applied unless `logits`) and returns a description
    #     of the exporter; dnnc then checks the file against ONNX Runtime (:mod:`dnnc.export`).

    def layer_param_counts(self) -> dict[str, tuple[int, int]]:
        """The framework's own count per IR node: node name → (trainable, non-trainable)."""

    def summary(self) -> str:
        """The framework's own model summary, as text."""

    def save(self, path: Path) -> list[Path]:
        """Save a native artifact (the path's suffix is the backend's `artifact_suffix`); return the files written."""


@runtime_checkable
class Backend(Protocol):
    """A registered backend (returned by the ``dnnc_backends`` hook)."""

    name: str
    #: IR ops this backend can build (see dnnc.compiler.lower_layers.CORE_OPS).
    supported_ops: frozenset[str]
    #: Suffix of the native artifact written by `CompiledModel.save`, e.g. ".keras".
    artifact_suffix: str

    def status(self) -> tuple[bool, str]:
        """(available, detail): the framework version, or why the backend cannot be used. Must not import the framework."""

    def build(self, ir: ModelIR, weights: Arrays) -> CompiledModel:
        """Build the native model and load the given canonical weights."""

    def load(self, path: Path) -> CompiledModel:
        """Load an artifact written by `CompiledModel.save`."""


#: Optional CompiledModel methods → what needs them (the runner's message when a backend lacks one).
OPTIONAL_METHODS: dict[str, str] = {
    "set_optimizer_state": "resuming a run (the optimizer's slots and iteration count must be restored)",
    "random_state": "checkpoints of runs whose dropout draws from the backend's generator",
    "set_random_state": "resuming a run whose dropout draws from the backend's generator",
    "set_trainable": "unfreezing layers during training",
    "export_onnx": "`dnnc export --format onnx`",
}


def require_method(model: "CompiledModel", name: str) -> Any:
    """The bound optional method `name` of `model`; BackendError saying what needs it when it is missing."""
    method = getattr(model, name, None)
    if method is None:
        backend = getattr(model, "backend_name", type(model).__name__)
        raise BackendError(f"backend {backend!r} does not implement CompiledModel.{name}(), which "
                           f"{OPTIONAL_METHODS.get(name, 'this operation')} needs")
    return method


class BackendError(Exception):
    """A backend cannot be used for a model (missing framework, unsupported op…); the message says why."""


def unsupported_ops(backend: Backend, ir: ModelIR) -> list[str]:
    """The IR's ops the backend does not declare, sorted."""
    return sorted(ir.ops - backend.supported_ops)


def check_supported(backend: Backend, ir: ModelIR) -> None:
    """Fail closed when the IR uses ops the backend does not declare."""
    missing = unsupported_ops(backend, ir)
    if missing:
        nodes = [n.name for n in ir.nodes if n.op in missing]
        raise BackendError(
            f"backend {backend.name!r} does not support op{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (used by layer{'s' if len(nodes) > 1 else ''} "
            f"{', '.join(repr(n) for n in nodes)})"
        )


def check_weights(ir: ModelIR, weights: Arrays) -> None:
    """Raise ValueError unless `weights` holds exactly the IR's parameters with the right shapes."""
    expected = {key: p.shape for key, _, p in ir.weight_specs()}
    missing = sorted(set(expected) - set(weights))
    unknown = sorted(set(weights) - set(expected))
    if missing or unknown:
        raise ValueError(f"weights do not match the model: missing {missing or 'none'}, unknown {unknown or 'none'}")
    for key, shape in expected.items():
        got = tuple(np.shape(weights[key]))
        if got != tuple(shape):
            raise ValueError(f"weight {key!r} has shape {got}, expected {tuple(shape)}")


def check_same_graph(old: ModelIR, new: ModelIR) -> None:
    """Raise ValueError unless `new` is `old` with (at most) different trainable flags (``set_trainable``)."""
    def skeleton(ir: ModelIR):
        return [(n.name, n.op, n.inputs, tuple(n.shape), tuple((p.name, tuple(p.shape)) for p in n.params))
                for n in ir.nodes]

    if old.name != new.name or skeleton(old) != skeleton(new):
        raise ValueError(f"set_trainable needs the model's own IR with other trainable flags, not another graph "
                         f"(model {old.name!r}, received {new.name!r})")


def split_optimizer_state(state: Arrays, ir: ModelIR) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A canonical optimizer state (see :meth:`CompiledModel.optimizer_state`) checked against the IR's
    optimizer and trained parameters, as (parameter key → slot → array, scalar name → value).

    An empty state is a fresh optimizer.  Otherwise every trained parameter has exactly the optimizer's
    slots (:func:`dnnc.numerics.optimizers.optimizer_state_names`), and ``iterations`` and the
    optimizer's scalars are present; anything else raises ValueError.
    """
    from ..numerics.optimizers import optimizer_state_names

    if not state:
        return {}, {}
    slot_names, scalar_names = optimizer_state_names(ir.training.optimizer)
    trained = [key for key, _, p in ir.weight_specs() if p.trainable]
    expected = {f"{key}/{slot}" for key in trained for slot in slot_names} | {"iterations", *scalar_names}
    missing, unknown = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unknown:
        def cut(keys):
            return (", ".join(keys[:4]) + ("…" if len(keys) > 4 else "")) or "none"

        raise ValueError(f"the optimizer state does not fit this model's {ir.training.optimizer['type']} optimizer "
                         f"and trained parameters: missing {cut(missing)}; unknown {cut(unknown)}")
    shapes = {key: tuple(p.shape) for key, _, p in ir.weight_specs()}
    slots: dict[str, dict[str, np.ndarray]] = {key: {} for key in trained} if slot_names else {}
    scalars: dict[str, np.ndarray] = {}
    for key, value in state.items():
        value = np.asarray(value)
        if "/" in key:
            param, _, slot = key.rpartition("/")
            if tuple(value.shape) != shapes[param]:
                raise ValueError(f"optimizer slot {key!r} has shape {tuple(value.shape)}, expected {shapes[param]}")
            slots[param][slot] = value
        elif value.shape != ():
            raise ValueError(f"optimizer scalar {key!r} has shape {tuple(value.shape)}, expected ()")
        else:
            scalars[key] = value
    return slots, scalars


def _batch_shape(shape: Sequence[int]) -> str:
    return f"(batch, {', '.join(str(d) for d in shape)})"


class BatchChecks:
    """The checks every backend makes on the arrays a step receives, with one set of messages.

    Built once per model from its IR.  Each method raises ValueError saying what
    was expected and what was received, and returns the arrays in the IR's order,
    unconverted (the backend turns them into its own tensors).  Shapes are read
    with ``np.shape``, so any array-like is accepted.
    """

    def __init__(self, ir: ModelIR) -> None:
        self.model_name = ir.name
        #: input name → shape without the batch axis, in ``ir.inputs`` order
        self.input_shapes: dict[str, tuple[int, ...]] = {name: tuple(ir.node(name).shape) for name in ir.inputs}
        #: token (int64) input → the number of ids it may hold
        self.token_limits: dict[str, int] = token_inputs(ir)
        #: input name → the NumPy dtype a backend feeds it as (float32 features, int64 token ids)
        self.input_dtypes: dict[str, np.dtype] = {
            name: np.dtype(np.int64 if name in self.token_limits else np.float32) for name in ir.inputs}
        #: mask key (a node with a keep mask — dropout, spatial dropout — or a recurrent node's dropout site) → its
        #: shape without the batch axis ((1, 1, C) for spatial dropout)
        self.dropout_shapes: dict[str, tuple[int, ...]] = {
            key: shape for key, (shape, _) in dropout_sites(ir).items()}
        #: (index in ``ir.outputs``, output) of every output with a loss
        self.loss_outputs: tuple[tuple[int, OutputIR], ...] = tuple(
            (i, out) for i, out in enumerate(ir.outputs) if out.loss is not None)

    def inputs(self, inputs: Arrays) -> list[Any]:
        """The model's inputs, in ``ir.inputs`` order, each of shape (batch, *input shape)."""
        try:
            arrays = [inputs[name] for name in self.input_shapes]
        except KeyError:
            names = list(self.input_shapes)
            raise ValueError(f"inputs must be given for {names} (received {sorted(inputs)})") from None
        for (name, expected), array in zip(self.input_shapes.items(), arrays):
            shape = tuple(np.shape(array))
            if not shape or shape[1:] != expected:
                raise ValueError(f"input {name!r} must have shape {_batch_shape(expected)} (received {shape})")
            if name in self.token_limits:
                check_token_ids(name, array, self.token_limits[name])
        return arrays

    def targets(self, targets: Arrays) -> list[Any]:
        """The targets of the outputs with a loss, in :attr:`loss_outputs` order."""
        if not self.loss_outputs:
            raise ValueError(f"model {self.model_name!r} has no output with a loss: set training.loss in the spec")
        try:
            return [targets[out.name] for _, out in self.loss_outputs]
        except KeyError:
            names = [out.name for _, out in self.loss_outputs]
            raise ValueError(f"targets must be given for {names} (received {sorted(targets)})") from None

    def dropout_masks(self, masks: Arrays | None) -> Arrays | None:
        """The masks unchanged (None when none are given), checked to be of dropout nodes and of their shapes."""
        if not masks:
            return None
        unknown = set(masks) - set(self.dropout_shapes)
        if unknown:
            raise ValueError(f"dropout masks given for {sorted(unknown)}, which are not dropout layers "
                             f"(dropout layers: {sorted(self.dropout_shapes) or 'none'})")
        for name, mask in masks.items():
            shape = tuple(np.shape(mask))
            if not shape or shape[1:] != self.dropout_shapes[name]:
                raise ValueError(f"the dropout mask of {name!r} must have shape "
                                 f"{_batch_shape(self.dropout_shapes[name])} (received {shape})")
        return masks


@dataclass(frozen=True)
class Penalty:
    """A regularised parameter: the loss gains l1·Σ|w| + l2·Σw² (not divided by the batch size)."""

    key: str
    l1: float
    l2: float


def penalties(ir: ModelIR) -> list[Penalty]:
    """Every trained parameter with a nonzero L1 or L2 factor, in ``ir.weight_specs()`` order (the penalty
    of a frozen parameter is not part of the loss, as in Keras, which adds only trainable weights' penalties)."""
    return [Penalty(key, param.regularizer.l1, param.regularizer.l2) for key, _, param in ir.weight_specs()
            if param.trainable and param.regularizer is not None and param.regularizer.active]


def loss_keys(ir: ModelIR) -> tuple[str, ...]:
    """The keys of :attr:`StepResult.losses`: ``"loss"`` and, when the model has several outputs,
    ``"<output>_loss"`` for each output with a loss (in ``ir.outputs`` order)."""
    if len(ir.outputs) == 1:
        return ("loss",)
    return ("loss", *(f"{out.name}_loss" for out in ir.outputs if out.loss is not None))


def named_losses(keys: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    """``{key: value}`` for the keys of :func:`loss_keys` and ``[total, per-output losses…]``
    (extra values, e.g. the per-output losses of a single-output model, are ignored)."""
    return {key: float(value) for key, value in zip(keys, values)}


# -- the optional per-node probe ------------------------------------------------------------------

@dataclass
class Probe:
    """What ``CompiledModel.probe(inputs, targets, *, nodes=None, pre_activations=False)`` returns.

    One batch, in **inference mode** (batch norm uses its moving statistics and
    does not update them, dropout is the identity), with the loss of
    :meth:`CompiledModel.evaluate_step` (Σ loss_weight·output loss + penalties,
    no sample weights), computed by the backend's own loss code:

    * ``losses``: as :attr:`StepResult.losses`;
    * ``activations``: node → its output (the batch axis first; for a dense node,
      after its activation function);
    * ``output_gradients``: node → ∂loss/∂(that output), same shape;
    * ``parameter_gradients``: canonical key → ∂loss/∂parameter of every trainable
      parameter (canonical layout), as :meth:`CompiledModel.loss_and_gradients`
      with ``training=False`` gives them;
    * ``pre_activations`` (only with ``pre_activations=True``): for each listed node
      that has an activation function (:func:`pre_activation_nodes`), the value
      the function is applied to: ``x·kernel + bias`` of a dense node, the input
      of an activation node.

    Arrays are NumPy float32.
    """

    losses: dict[str, float]
    activations: dict[str, np.ndarray]
    output_gradients: dict[str, np.ndarray]
    parameter_gradients: dict[str, np.ndarray]
    pre_activations: dict[str, np.ndarray] = field(default_factory=dict)


def probe_nodes(ir: ModelIR, nodes: Sequence[str] | None) -> tuple[str, ...]:
    """The nodes a probe reports, in IR order: every node but the inputs when `nodes` is None;
    otherwise `nodes`, checked to be non-input nodes of the model (ValueError naming the others)."""
    candidates = [n.name for n in ir.nodes if n.op != "input"]
    if nodes is None:
        return tuple(candidates)
    wanted = set(nodes)
    bad = sorted(wanted - set(candidates))
    if bad:
        raise ValueError(f"cannot probe {', '.join(repr(b) for b in bad)}: not a non-input node of model "
                         f"{ir.name!r} (nodes: {', '.join(candidates)})")
    return tuple(name for name in candidates if name in wanted)


#: Ops computing a linear map (plus bias) and then their ``activation`` attribute: their pre-activation is the
#: linear map's output.
LINEAR_THEN_ACTIVATION = frozenset({"dense", "conv1d", "conv2d"})


def pre_activation_nodes(ir: ModelIR, nodes: Sequence[str]) -> tuple[str, ...]:
    """Those of `nodes` with an activation function: dense, convolution and activation nodes."""
    return tuple(name for name in nodes if ir.node(name).op in (*LINEAR_THEN_ACTIVATION, "activation"))


def run_probe(model: CompiledModel, inputs: Arrays, targets: Arrays, *, nodes: Sequence[str] | None = None,
              pre_activations: bool = False) -> Probe:
    """``model.probe(...)``, or a :class:`BackendError` naming the backend when it does not implement it."""
    method = getattr(model, "probe", None)
    if method is None:
        raise BackendError(f"backend {getattr(model, 'backend_name', type(model).__name__)!r} does not implement "
                           "the optional CompiledModel.probe (per-layer activations and gradients), which dnnc "
                           "inspect and the histograms callback need")
    return method(inputs, targets, nodes=nodes, pre_activations=pre_activations)
