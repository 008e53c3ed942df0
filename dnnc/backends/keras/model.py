"""KerasModel: a :class:`~dnnc.backends.base.CompiledModel` backed by a functional ``keras.Model``.

Built once per IR: the layers (:mod:`.converters`), the functional model and the
canonical-key → variable binding (:mod:`.graph`), the list of trainable
variables and regularised parameters, and the compiled step functions
(:mod:`.steps`).  A step converts the batch to NumPy float32 (no copy when it
already is), calls one cached compiled function and converts its results.

``keras_model`` is the native model: stock layers only (one exception: GELU
with ``approximate = true``, see :mod:`.custom_objects`), logits out.

The model lives on one device (``device``, resolved by :meth:`.backend.KerasBackend.resolve_device`):
its variables, the optimizer's slots and the traced step functions are created, and the steps run,
under ``keras.device(...)`` (``tf.device``): ``"cpu:0"`` for ``"cpu"``, ``"gpu:N"`` for ``"cuda:N"``
and ``"gpu:0"`` for ``"mps"``.  TensorFlow's soft placement still puts an op without a GPU kernel on
the CPU, as it does without a scope.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...compiler.ir import ModelIR
from ..base import (Arrays, BackendError, BatchChecks, StepResult, check_same_graph, check_weights, loss_keys,
                    named_losses, penalties, split_optimizer_state)
from .graph import KerasGraph
from .optimizers import build_keras_optimizer
from .runtime import configure, determinism_enabled, import_keras, jit_compile_setting
from .steps import StepFunctions

_F32 = np.dtype(np.float32)
SUMMARY_WIDTH = 124

#: Keras slot name → dnnc's canonical slot name (dnnc.numerics.optimizers), per optimizer type.
SLOT_NAMES: dict[str, dict[str, str]] = {
    "sgd": {"momentum": "momentum"},
    "adam": {"momentum": "m", "velocity": "v", "velocity_hat": "v_hat"},
    "adamw": {"momentum": "m", "velocity": "v", "velocity_hat": "v_hat"},
    "nadam": {"momentum": "m", "velocity": "v"},
    "adamax": {"momentum": "m", "norm": "u"},
    "rmsprop": {"velocity": "v", "momentum": "momentum", "average_gradient": "mean_grad"},
    "adagrad": {"accumulator": "accumulator"},
    "adadelta": {"accumulated_grad": "mean_sq_grad", "accumulated_delta_var": "mean_sq_delta"},
}


def tf_device_name(device: str) -> str:
    """TensorFlow's name of a concrete dnnc device: ``cpu`` → ``cpu:0``, ``cuda:N`` → ``gpu:N``, ``mps`` → ``gpu:0``."""
    if device == "cpu":
        return "cpu:0"
    if device.startswith("cuda:"):
        return "gpu:" + device.split(":", 1)[1]
    if device == "mps":
        return "gpu:0"
    raise BackendError(f"the keras backend cannot place a model on device {device!r} (allowed: cpu, cuda:N, mps)")


def sidecar_path(path: Path) -> Path:
    """``<stem>.ir.json`` next to the artifact."""
    path = Path(path)
    return path.with_name(path.stem + ".ir.json")


def _f32(array: Any) -> np.ndarray:
    return np.asarray(array, dtype=_F32)


@contextlib.contextmanager
def _quiet_numpy2_copy_warning():
    """Keras 3 saving calls ``np.array(variable)``, which NumPy 2 flags with a DeprecationWarning (harmless)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield


def read_variable(variable: Any) -> np.ndarray:
    """A NumPy copy of a Keras variable (via the TensorFlow variable: Keras's own `.numpy()` warns on NumPy 2)."""
    return np.array(variable.value.numpy(), copy=True)


class KerasModel:
    """A dnnc model built as a functional Keras 3 model (TensorFlow)."""

    backend_name = "keras"

    def __init__(self, ir: ModelIR, weights: Arrays, device: str = "cpu") -> None:
        check_weights(ir, weights)
        keras = import_keras()
        #: The concrete device the model runs on ("cpu", "cuda:N", "mps").
        self.device = str(device)
        self._scope_name = tf_device_name(self.device)
        self._keras = keras
        if self._scope_name.startswith("gpu"):
            import tensorflow as tf

            # float32 means float32: TensorFlow runs float32 matmuls and convolutions as TF32 on Ampere+ GPUs
            tf.config.experimental.enable_tensor_float_32_execution(False)
        with self.placement():
            self._build(ir, weights, keras)

    def placement(self):
        """The device scope the model's variables are created and its steps run in."""
        return self._keras.device(self._scope_name)

    def _build(self, ir: ModelIR, weights: Arrays, keras) -> None:
        self.ir = ir
        training = ir.training
        self.seed = training.seed if training is not None else 0
        self.strict_parity = bool(training is not None and training.strict_parity)
        configure(self.seed, self.strict_parity)
        self.graph = KerasGraph(ir, keras, self.seed)
        #: The native functional model (logits out).
        self.keras_model = self.graph.model
        self._variables = self.graph.variables
        self._checks = BatchChecks(ir)
        self._input_names = tuple(ir.inputs)
        self._loss_outputs = list(self._checks.loss_outputs)
        self._loss_keys = loss_keys(ir)
        self._optimizer = None
        self._lr_cache: tuple[np.float32, Any] | None = None
        #: Whether the step functions are XLA-compiled (see runtime.jit_compile_setting).
        self.jit_compile = jit_compile_setting(determinism_enabled(),
                                               requested=ir.training is not None and ir.training.compile)
        self._bind_trainable()
        self.set_weights(weights)

    @property
    def compiled(self) -> str | None:
        """How the step functions are compiled (the run manifest's record), or None."""
        return "XLA (tf.function jit_compile=True)" if self.jit_compile else None

    def _bind_trainable(self) -> None:
        """The trained variables, their penalties and the step functions, from the IR's trainable flags."""
        ir = self.ir
        self._trainable: list[tuple[str, Any]] = [
            (key, self._variables[key]) for key, _, param in ir.weight_specs() if param.trainable]
        regularised = [(self._variables[p.key], p.l1, p.l2) for p in penalties(ir)]
        self._steps = StepFunctions(self.graph, self._loss_outputs, [v for _, v in self._trainable], regularised,
                                    self.jit_compile, self._get_optimizer)

    def set_trainable(self, ir: ModelIR) -> None:
        """Adopt the trainable flags of `ir` (this model's IR with nodes frozen or unfrozen): the layers' own
        ``trainable`` follows, the step functions are traced again, and the optimizer starts afresh over the new
        trained variables (new slots, iteration count 0), as recompiling a Keras model does."""
        check_same_graph(self.ir, ir)
        self.ir = ir
        with self.placement():
            self.graph.set_trainable(ir)
            self._optimizer = None
            self._bind_trainable()

    # -- weights -------------------------------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        return {key: read_variable(var) for key, var in self._variables.items()}

    def set_weights(self, weights: Arrays) -> None:
        check_weights(self.ir, weights)
        for key, var in self._variables.items():
            var.assign(_f32(weights[key]))

    # -- batches -----------------------------------------------------------------------
    def _batch(self, inputs: Arrays, targets: Arrays | None = None, sample_weight=None,
               masks: Arrays | None = None) -> dict[str, Any]:
        checks = self._checks
        batch: dict[str, Any] = {"inputs": {name: np.asarray(x, dtype=checks.input_dtypes[name]) for name, x in
                                            zip(self._input_names, checks.inputs(inputs))}}
        if targets is not None:
            given = checks.targets(targets)
            batch["targets"] = {out.name: np.asarray(t) for (_, out), t in zip(self._loss_outputs, given)}
        if sample_weight is not None:
            batch["sample_weight"] = _f32(sample_weight)
        masks = checks.dropout_masks(masks)
        if masks:
            batch["masks"] = {name: _f32(m) for name, m in masks.items()}
        return batch

    def _loss_values(self, stacked) -> dict[str, float]:
        return named_losses(self._loss_keys, stacked.numpy().tolist())

    def _output_arrays(self, outputs) -> dict[str, np.ndarray]:
        return {o.name: t.numpy() for o, t in zip(self.ir.outputs, outputs)}

    def _learning_rate_tensor(self, learning_rate: float):
        """The learning rate as a float32 scalar tensor (reused while the value does not change)."""
        value = np.float32(learning_rate)
        if self._lr_cache is None or self._lr_cache[0] != value:
            import tensorflow as tf

            self._lr_cache = (value, tf.constant(value, dtype=tf.float32))
        return self._lr_cache[1]

    def _get_optimizer(self):
        if self._optimizer is None:
            if self.ir.training is None:
                raise ValueError(f"model {self.ir.name!r} has no [training] section: cannot build its optimizer")
            with self.placement():
                optimizer = build_keras_optimizer(self.ir.training.optimizer)
                optimizer.build([v for _, v in self._trainable])
            self._optimizer = optimizer
        return self._optimizer

    # -- the CompiledModel operations ---------------------------------------------------
    def forward(self, inputs: Arrays, *, training: bool = False, dropout_masks: Arrays | None = None) -> dict[str, np.ndarray]:
        batch = self._batch(inputs, masks=dropout_masks if training else None)
        with self.placement():
            return self._output_arrays(self._steps("forward", training, batch))

    def loss_and_gradients(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None,
                           training: bool = True, dropout_masks: Arrays | None = None,
                           ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        batch = self._batch(inputs, targets, sample_weight, dropout_masks if training else None)
        with self.placement():
            losses, grads = self._steps("gradients", training, batch)
        return self._loss_values(losses), {key: g.numpy() for (key, _), g in zip(self._trainable, grads)}

    def prepare_training(self) -> None:
        """Build the optimizer and its slots now (the runner calls this before the first epoch)."""
        self._get_optimizer()

    def train_step(self, inputs: Arrays, targets: Arrays, *, learning_rate: float,
                   sample_weight: np.ndarray | None = None, dropout_masks: Arrays | None = None) -> StepResult:
        self._get_optimizer()
        batch = self._batch(inputs, targets, sample_weight, dropout_masks)
        batch["lr"] = self._learning_rate_tensor(learning_rate)
        with self.placement():
            losses, outputs = self._steps("train", True, batch)
        return StepResult(self._loss_values(losses), self._output_arrays(outputs))

    def resident_session(self, plan):
        """A :class:`~dnnc.backends.resident.ResidentSession` accumulating `plan` (see :mod:`.resident`)."""
        from .resident import KerasSession

        return KerasSession(self, plan)

    def evaluate_step(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None) -> StepResult:
        batch = self._batch(inputs, targets, sample_weight)
        with self.placement():
            losses, outputs = self._steps("evaluate", False, batch)
        return StepResult(self._loss_values(losses), self._output_arrays(outputs))

    def probe(self, inputs: Arrays, targets: Arrays, *, nodes=None, pre_activations: bool = False):
        """Per-node outputs and gradients in inference mode (:class:`dnnc.backends.base.Probe`; see :mod:`.probe`)."""
        from .probe import probe

        with self.placement():
            return probe(self, inputs, targets, nodes=nodes, pre_activations=pre_activations)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """``"<node>/<param>/<slot>"`` (slot names of dnnc.numerics.optimizers, e.g. ``m``, ``v``,
        ``momentum``), ``"iterations"`` (int64) and the optimizer's scalars (nadam: ``"u_product"``); empty
        before the first step."""
        opt = self._optimizer
        if opt is None or int(read_variable(opt.iterations)) == 0:
            return {}
        out = {key: read_variable(variable) for key, variable in self._optimizer_slots(opt).items()}
        out["iterations"] = np.asarray(int(read_variable(opt.iterations)), dtype=np.int64)
        for name, variable in self._optimizer_scalars(opt).items():
            out[name] = np.asarray(read_variable(variable), dtype=np.float64)
        return out

    def _optimizer_slots(self, opt) -> dict[str, Any]:
        """Canonical slot key ``"<node>/<param>/<slot>"`` → the optimizer's Keras variable."""
        slots = SLOT_NAMES.get(self.ir.training.optimizer["type"], {})
        prefixes = {var.path.replace("/", "_") + "_": key for key, var in self._trainable}
        out: dict[str, Any] = {}
        for variable in opt.variables:
            name = variable.name
            for prefix, key in prefixes.items():
                if name.startswith(prefix) and name[len(prefix):] in slots:
                    out[f"{key}/{slots[name[len(prefix):]]}"] = variable
                    break
        return out

    @staticmethod
    def _optimizer_scalars(opt) -> dict[str, Any]:
        """The optimizer's scalars besides the iteration count, by canonical name (nadam: its momentum product)."""
        product = getattr(opt, "_u_product", None)
        return {} if product is None else {"u_product": product}

    def set_optimizer_state(self, state: Arrays) -> None:
        """Restore what :meth:`optimizer_state` returned (possibly another backend's: the keys are canonical)."""
        slots, scalars = split_optimizer_state(state, self.ir)
        self._optimizer = None  # a fresh optimizer: its slots hold their initial values
        opt = self._get_optimizer()
        if not state:
            return
        variables = self._optimizer_slots(opt)
        for key, values in slots.items():
            for slot, value in values.items():
                variables[f"{key}/{slot}"].assign(_f32(value))
        opt.iterations.assign(int(scalars.pop("iterations")))
        for name, variable in self._optimizer_scalars(opt).items():
            variable.assign(np.asarray(scalars[name], dtype=variable.dtype))

    def random_state(self) -> dict[str, np.ndarray]:
        """The seed-generator state of every dropout layer (what its next masks are drawn from): ``"<node>"`` →
        int64 (2,)."""
        return {name: read_variable(gen.state) for name, gen in self.graph.seed_generators().items()}

    def set_random_state(self, state: Arrays) -> None:
        generators = self.graph.seed_generators()
        if set(state) != set(generators):
            raise ValueError(f"a Keras random state holds the dropout layers {sorted(generators)} "
                             f"(received {sorted(state)})")
        for name, gen in generators.items():
            gen.state.assign(np.asarray(state[name], dtype=np.int64))

    # -- introspection ----------------------------------------------------------------------
    def layer_param_counts(self) -> dict[str, tuple[int, int]]:
        return self.graph.layer_param_counts()

    def summary(self) -> str:
        parts: list[str] = []

        def print_fn(text: str, line_break: bool = True, **_: Any) -> None:
            parts.append(text + ("\n" if line_break else ""))

        # Keras sizes the table from the terminal (80 columns when there is none), truncating
        # layer names; render it 124 columns wide whatever the terminal.
        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = str(SUMMARY_WIDTH)
        try:
            self.keras_model.summary(print_fn=print_fn)
        finally:
            if previous is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = previous
        return "".join(parts).rstrip("\n")

    # -- artifacts ----------------------------------------------------------------------------
    def save(self, path: Path) -> list[Path]:
        """Write ``<path>`` (a ``.keras`` file: the functional model with its weights, no optimizer) and
        ``<stem>.ir.json`` (the IR, which :meth:`KerasBackend.load` needs to rebuild the dnnc model)."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"a Keras artifact path must end in '.keras' (received {str(path)!r})")
        path.parent.mkdir(parents=True, exist_ok=True)
        with _quiet_numpy2_copy_warning():
            self.keras_model.save(path, overwrite=True, zipped=True)
        sidecar = sidecar_path(path)
        sidecar.write_text(self.ir.to_json(), encoding="utf-8")
        return [path, sidecar]

    def export_onnx(self, path: Path, *, logits: bool = False, opset: int) -> str:
        """Write the inference graph as an ONNX file (heads applied unless `logits`); the exporter's name."""
        from .onnx_export import export_keras_onnx

        with _quiet_numpy2_copy_warning():
            return export_keras_onnx(self.keras_model, self.ir, Path(path), logits=logits, opset=opset)


def load_artifact(path: Path) -> tuple[ModelIR, dict[str, np.ndarray]]:
    """The IR (from the sidecar) and the canonical weights (from the ``.keras`` file) of a saved model."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if not path.is_file():
        raise BackendError(f"cannot load Keras artifact {str(path)!r}: no such file")
    if not sidecar.is_file():
        raise BackendError(f"cannot load Keras artifact {str(path)!r}: its IR file {sidecar.name!r} is missing "
                           "(dnnc writes it next to the .keras file)")
    try:
        ir = ModelIR.from_json(sidecar.read_text(encoding="utf-8"))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BackendError(f"cannot read {str(sidecar)!r}: {exc}") from exc
    keras = import_keras()
    from .custom_objects import CUSTOM_OBJECTS
    from .graph import bind_variables

    try:
        with _quiet_numpy2_copy_warning():
            native = keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True)
    except Exception as exc:
        raise BackendError(f"cannot load Keras artifact {str(path)!r}: {exc}") from exc
    weights = {key: read_variable(var).astype(_F32) for key, var in bind_variables(native, ir).items()}
    return ir, weights
