"""TorchModel: a :class:`~dnnc.backends.base.CompiledModel` backed by a torch module.

The per-step path is kept short: the module graph, the list of trainable
parameters, the regularised parameters and the loss outputs are all prepared
once; a step converts the batch with ``torch.from_numpy`` (no copy for
contiguous float32 / int64 arrays), runs forward, loss, backward and the
optimizer, and returns the logits of that same forward pass as NumPy views.

The model lives on one device (``device``: ``"cpu"``, ``"cuda:N"`` or ``"mps"``, resolved by
:meth:`.backend.TorchBackend.resolve_device`): the parameters, moving statistics, optimizer slots
and the dropout generator are created there, each batch is copied there (on the CPU ``.to`` is the
identity, so nothing changes), and what goes back to dnnc (losses, logits, weights, gradients,
optimizer state) is copied to host NumPy arrays.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...compiler.ir import ModelIR, OutputIR
from ..base import (Arrays, BackendError, BatchChecks, StepResult, check_same_graph, check_weights, loss_keys, named_losses,
                    penalties, split_optimizer_state)
from .compiled import CompiledStep
from .graph import GraphModule, bind_weights
from .layout import from_torch, to_torch
from .losses import torch_loss
from .optimizers import build_torch_optimizer, set_learning_rate

ARTIFACT_FORMAT = "dnnc-torch"
ARTIFACT_VERSION = 1


def as_tensor(array: Any, dtype: np.dtype, device: torch.device | None = None) -> torch.Tensor:
    """A torch view of a NumPy array (copied only when the dtype, layout or writability requires it), moved to
    `device` when it is not the CPU."""
    a = np.asarray(array)
    if a.dtype != dtype or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=dtype)
    elif not a.flags.writeable:
        a = a.copy()
    tensor = torch.from_numpy(a)
    return tensor if device is None or device.type == "cpu" else tensor.to(device, non_blocking=True)


def host(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy array of a (detached) tensor: a view on the CPU, a copy from another device."""
    return tensor.detach().cpu().numpy()


_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)


class TorchModel:
    """A dnnc model built as a torch :class:`~.graph.GraphModule`."""

    backend_name = "torch"

    def __init__(self, ir: ModelIR, weights: Arrays, device: str = "cpu") -> None:
        check_weights(ir, weights)
        self.ir = ir
        #: The concrete device the model runs on ("cpu", "cuda:N", "mps").
        self.device = str(device)
        self._device = torch.device(self.device)
        training = ir.training
        self.seed = training.seed if training is not None else 0
        if training is not None and training.strict_parity:
            if self._device.type == "cuda":  # cuBLAS is deterministic only with a fixed workspace (torch's docs)
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
        #: The model's own generator (on the model's device): dropout draws from it when no masks are given.
        self.generator = (torch.Generator() if self._device.type == "cpu"
                          else torch.Generator(device=self._device)).manual_seed(self.seed)
        self.graph = GraphModule(ir, self.generator)
        if self._device.type == "cuda":
            # float32 means float32: no TF32 matmuls or convolutions (cuDNN allows TF32 by default on Ampere+)
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        if self._device.type != "cpu":
            self.graph.to(self._device)  # before the tensors are bound: moving replaces the buffers
        self._bound = bind_weights(self.graph, ir)
        self._trainable: list[tuple[str, torch.nn.Parameter, bool]] = []
        self._params: list[torch.nn.Parameter] = []
        #: (tensor, l1, l2) of every regularised trained parameter (the penalty does not depend on the layout)
        self._penalties: list[tuple[torch.Tensor, float, float]] = []
        self._bind_trainable()
        self._checks = BatchChecks(ir)
        self._input_names = tuple(ir.inputs)
        self._loss_outputs: list[tuple[int, OutputIR, np.dtype]] = [
            (i, out, _I64 if out.target == "sparse" else _F32) for i, out in self._checks.loss_outputs]
        self._loss_keys = loss_keys(ir)
        self._optimizer: torch.optim.Optimizer | None = None
        self._training_mode: bool | None = None
        #: The compiled forward pass and loss of a training step (training.compile), else None.
        self.compiled_step = CompiledStep(self) if training is not None and training.compile else None
        self.set_weights(weights)
        self._set_mode(False)

    def _bind_trainable(self) -> None:
        """requires_grad and the list of trained parameters from the IR's trainable flags."""
        self._trainable = []
        for key, node, param in self.ir.weight_specs():
            tensor, transposed = self._bound[key]
            if isinstance(tensor, torch.nn.Parameter):
                tensor.requires_grad_(param.trainable)
                if param.trainable:
                    self._trainable.append((key, tensor, transposed))
        self._params = [p for _, p, _ in self._trainable]
        self._penalties = [(self._bound[p.key][0], p.l1, p.l2) for p in penalties(self.ir)]

    def set_trainable(self, ir: ModelIR) -> None:
        """Adopt the trainable flags of `ir` (this model's IR with nodes frozen or unfrozen); the optimizer
        starts afresh over the new trained parameters (new slots, iteration count 0)."""
        check_same_graph(self.ir, ir)
        self.ir = ir
        for node in ir.nodes:
            if node.op == "batch_norm":
                self.graph.module_for(node.name).inference_mode = bool(node.attrs.inference_mode)
        self._bind_trainable()
        self._optimizer = None

    # -- weights -------------------------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for key, (tensor, transposed) in self._bound.items():
            a = host(tensor)
            out[key] = np.asarray(from_torch(a) if transposed else np.array(a, order="C", copy=True), dtype=np.float32)
        return out

    def set_weights(self, weights: Arrays) -> None:
        check_weights(self.ir, weights)
        with torch.no_grad():
            for key, (tensor, transposed) in self._bound.items():
                a = np.asarray(weights[key])
                tensor.copy_(torch.from_numpy(to_torch(a) if transposed else np.array(a, dtype=np.float32, order="C", copy=True)))

    # -- running the graph ---------------------------------------------------
    def _set_mode(self, training: bool) -> None:
        if self._training_mode is not training:
            self.graph.train(training)
            self._training_mode = training

    def _input_tensors(self, inputs: Arrays) -> list[torch.Tensor]:
        """The inputs, checked, in ``ir.inputs`` order, as tensors on the model's device."""
        checks, device = self._checks, self._device
        return [as_tensor(x, checks.input_dtypes[name], device)
                for name, x in zip(self._input_names, checks.inputs(inputs))]

    def _mask_tensors(self, masks: Arrays | None) -> dict[str, torch.Tensor] | None:
        """The keep masks, checked, as float32 tensors on the model's device (None: the model draws its own)."""
        masks = self._checks.dropout_masks(masks)
        return None if masks is None else {name: as_tensor(m, _F32, self._device) for name, m in masks.items()}

    def _run(self, inputs: Arrays, training: bool, masks: Arrays | None) -> tuple[torch.Tensor, ...]:
        tensors, mask_tensors = self._input_tensors(inputs), self._mask_tensors(masks)
        self._set_mode(training)
        return self.graph(*tensors, dropout_masks=mask_tensors)

    def _penalty(self) -> torch.Tensor | None:
        total = None
        for tensor, l1, l2 in self._penalties:
            term = None
            if l1:
                term = l1 * tensor.abs().sum()
            if l2:
                sq = l2 * tensor.square().sum()
                term = sq if term is None else term + sq
            total = term if total is None else total + term
        return total

    def _target_tensors(self, targets: Arrays) -> list[torch.Tensor]:
        """The targets of the outputs with a loss, checked, as tensors on the model's device."""
        return [as_tensor(t, dtype, self._device)
                for (_, _, dtype), t in zip(self._loss_outputs, self._checks.targets(targets))]

    def _loss(self, outs, targets: Arrays, sample_weight) -> tuple[torch.Tensor, list[torch.Tensor]]:
        sw = None if sample_weight is None else as_tensor(sample_weight, _F32, self._device)
        return self._loss_of_tensors(outs, self._target_tensors(targets), sw)

    def _loss_of_tensors(self, outs, targets: list[torch.Tensor], sw: torch.Tensor | None,
                         ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(total, per-output losses) of the outputs `outs` against `targets` (one per output with a loss)."""
        total = None
        per_output = []
        for (i, out, _), target in zip(self._loss_outputs, targets):
            loss = torch_loss(out.loss, out.head, outs[i], target, sw)
            per_output.append(loss)
            weighted = loss if out.loss_weight == 1.0 else loss * out.loss_weight
            total = weighted if total is None else total + weighted
        penalty = self._penalty()
        if penalty is not None:
            total = total + penalty
        return total, per_output

    def _loss_values(self, total: torch.Tensor, per_output: list[torch.Tensor]) -> dict[str, float]:
        if len(self._loss_keys) == 1:
            return {"loss": total.item()}
        stacked = torch.stack([total.detach(), *(p.detach() for p in per_output)])
        return named_losses(self._loss_keys, stacked.tolist())

    def _output_arrays(self, outs) -> dict[str, np.ndarray]:
        return {o.name: host(t) for o, t in zip(self.ir.outputs, outs)}

    # -- the CompiledModel operations -----------------------------------------
    def forward(self, inputs: Arrays, *, training: bool = False, dropout_masks: Arrays | None = None) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return self._output_arrays(self._run(inputs, training, dropout_masks))

    def loss_and_gradients(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None,
                           training: bool = True, dropout_masks: Arrays | None = None,
                           ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        with torch.enable_grad():
            outs = self._run(inputs, training, dropout_masks)
            total, per_output = self._loss(outs, targets, sample_weight)
            grads = torch.autograd.grad(total, self._params, allow_unused=True)
        result = {}
        for (key, p, transposed), g in zip(self._trainable, grads):
            a = np.zeros(tuple(p.shape), np.float32) if g is None else host(g)
            result[key] = np.asarray(from_torch(a) if transposed else np.array(a, order="C", copy=True), dtype=np.float32)
        return self._loss_values(total, per_output), result

    def _build_optimizer(self) -> torch.optim.Optimizer:
        if self.ir.training is None:
            raise ValueError(f"model {self.ir.name!r} has no [training] section: cannot build its optimizer")
        self._optimizer = build_torch_optimizer([(key, p) for key, p, _ in self._trainable], self.ir.training.optimizer)
        self._optimizer.scratch_gradients = True  # train_tensors drops the gradients after each update
        if self.compiled_step is not None:
            self._optimizer.compile()
        return self._optimizer

    def prepare_training(self) -> None:
        """Build the optimizer now (the runner calls this before the first epoch)."""
        if self._optimizer is None:
            self._build_optimizer()

    @property
    def compiled(self) -> str | None:
        """How the training step is compiled (the run manifest's record), or None."""
        return None if self.compiled_step is None else self.compiled_step.description

    def warm_up_training(self, batches) -> None:
        """Compile the training step for the shapes of `batches` ((inputs, targets, sample weight) of each batch
        size) before the first epoch, leaving the model as it was; nothing without training.compile."""
        if self.compiled_step is not None:
            self.compiled_step.warm_up(batches)

    def _batch_tensors(self, inputs: Arrays, targets: Arrays, sample_weight: np.ndarray | None):
        """(inputs, targets, sample weight) of a batch, checked, as tensors on the model's device."""
        sw = None if sample_weight is None else as_tensor(sample_weight, _F32, self._device)
        return self._input_tensors(inputs), self._target_tensors(targets), sw

    def train_step(self, inputs: Arrays, targets: Arrays, *, learning_rate: float,
                   sample_weight: np.ndarray | None = None, dropout_masks: Arrays | None = None) -> StepResult:
        tensors, target_tensors, sw = self._batch_tensors(inputs, targets, sample_weight)
        total, per_output, outs = self.train_tensors(tensors, target_tensors, sw, self._mask_tensors(dropout_masks),
                                                     learning_rate)
        return StepResult(self._loss_values(total, per_output), self._output_arrays(outs))

    def _forward_loss(self, inputs: list[torch.Tensor], targets: list[torch.Tensor],
                      sample_weight: torch.Tensor | None, masks: Mapping[str, torch.Tensor] | None):
        """(total loss, per-output losses, outputs) of the graph in its current mode: the part of a training step
        that :class:`.compiled.CompiledStep` compiles."""
        outs = self.graph(*inputs, dropout_masks=masks)
        total, per_output = self._loss_of_tensors(outs, targets, sample_weight)
        return total, per_output, outs

    def train_tensors(self, inputs: list[torch.Tensor], targets: list[torch.Tensor], sample_weight: torch.Tensor | None,
                      masks: dict[str, torch.Tensor] | None, learning_rate: float):
        """One optimizer step on tensors already on the device (what :meth:`train_step` and the resident session
        run): (total loss, per-output losses, logits of the training-mode pass before the update)."""
        optimizer = self._optimizer or self._build_optimizer()
        self._set_mode(True)
        with torch.enable_grad():
            forward_loss = self._forward_loss if self.compiled_step is None else self.compiled_step
            total, per_output, outs = forward_loss(inputs, targets, sample_weight, masks)
            for p in self._params:  # optimizer.zero_grad(set_to_none=True) without its profiler record
                p.grad = None
            total.backward()
        set_learning_rate(optimizer, learning_rate)
        optimizer.apply_gradients()
        return total, per_output, outs

    def resident_session(self, plan):
        """A :class:`~dnnc.backends.resident.ResidentSession` accumulating `plan` (see :mod:`.resident`)."""
        from .resident import TorchSession

        return TorchSession(self, plan)

    def evaluate_step(self, inputs: Arrays, targets: Arrays, *, sample_weight: np.ndarray | None = None) -> StepResult:
        with torch.no_grad():
            outs = self._run(inputs, False, None)
            total, per_output = self._loss(outs, targets, sample_weight)
            return StepResult(self._loss_values(total, per_output), self._output_arrays(outs))

    def probe(self, inputs: Arrays, targets: Arrays, *, nodes=None, pre_activations: bool = False):
        """Per-node outputs and gradients in inference mode (:class:`dnnc.backends.base.Probe`; see :mod:`.probe`)."""
        from .probe import probe

        return probe(self, inputs, targets, nodes=nodes, pre_activations=pre_activations)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """``"<node>/<param>/<slot>"`` → slot in the canonical layout, ``"iterations"`` and the optimizer's scalars
        (nadam: ``"u_product"``); empty before the first step."""
        opt = self._optimizer
        if opt is None or opt.iterations == 0:
            return {}
        out: dict[str, np.ndarray] = {}
        for key, p, transposed in self._trainable:
            for slot, value in opt.state.get(p, {}).items():
                if isinstance(value, torch.Tensor):
                    a = host(value)
                    out[f"{key}/{slot}"] = from_torch(a) if transposed else np.array(a, order="C", copy=True)
        out["iterations"] = np.asarray(opt.iterations, dtype=np.int64)
        out.update({k: np.asarray(v, dtype=np.float64) for k, v in opt.global_state().items()})
        return out

    def set_optimizer_state(self, state: Arrays) -> None:
        """Restore what :meth:`optimizer_state` returned (possibly another backend's: the keys are canonical)."""
        optimizer = self._optimizer or self._build_optimizer()
        slots, scalars = split_optimizer_state(state, self.ir)
        optimizer.state.clear()
        optimizer.reset_global_state()
        by_key = {key: (p, transposed) for key, p, transposed in self._trainable}
        for key, values in slots.items():
            p, transposed = by_key[key]
            entry = optimizer.state[p]
            for slot, a in values.items():
                a = np.asarray(a, dtype=np.float32)
                entry[slot] = torch.from_numpy(to_torch(a) if transposed else np.array(a, order="C", copy=True)
                                               ).to(p.device)
        optimizer.load_global_state(int(scalars.pop("iterations", 0)), scalars)

    @property
    def _generator_key(self) -> str:
        """``torch_generator`` on the CPU, ``torch_generator_<type>`` (cuda, mps) on another device: generators
        of different devices are different algorithms, so a state restores only on the kind that wrote it."""
        return "torch_generator" if self._device.type == "cpu" else f"torch_generator_{self._device.type}"

    def random_state(self) -> dict[str, np.ndarray]:
        """The model's generator (dropout draws when no masks are given): ``{"torch_generator": uint8 bytes}``
        (``torch_generator_cuda`` / ``_mps`` on those devices)."""
        return {self._generator_key: self.generator.get_state().numpy().copy()}

    def set_random_state(self, state: Arrays) -> None:
        key = self._generator_key
        if set(state) != {key}:
            raise ValueError(f"a torch random state on device {self.device!r} holds {key!r} (received {sorted(state)})")
        self.generator.set_state(torch.from_numpy(np.asarray(state[key], dtype=np.uint8).copy()))

    # -- introspection --------------------------------------------------------
    def layer_param_counts(self) -> dict[str, tuple[int, int]]:
        counts = {}
        for node in self.ir.nodes:
            module = self.graph.module_for(node.name)
            trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
            frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
            counts[node.name] = (trainable, frozen + sum(b.numel() for b in module.buffers()))
        return counts

    def summary(self) -> str:
        rows = [("node", "torch module", "trainable", "non-trainable")]
        counts = self.layer_param_counts()
        for node in self.ir.nodes:
            module = self.graph.module_for(node.name)
            text = " ".join(repr(module).split())
            t, nt = counts[node.name]
            rows.append((node.name, text, f"{t:,}", f"{nt:,}"))
        total_t = sum(t for t, _ in counts.values())
        total_nt = sum(nt for _, nt in counts.values())
        widths = [max(len(r[i]) for r in rows) for i in range(4)]

        def line(r):
            return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"

        rule = "-" * len(line(rows[0]))
        text = [f"torch model {self.ir.name!r}", rule, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule,
                f"total parameters: {total_t + total_nt:,} (trainable {total_t:,}, non-trainable {total_nt:,})",
                "", repr(self.graph)]
        return "\n".join(text)

    # -- artifacts ------------------------------------------------------------
    def artifact_payload(self) -> dict[str, Any]:
        """What `save` writes: plain containers of str, int and tensors (loadable with weights_only=True)."""
        return {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_VERSION,
            "torch_version": str(torch.__version__),
            "ir": self.ir.to_json(indent=None),
            "weights": {k: torch.from_numpy(v) for k, v in self.get_weights().items()},
        }

    def _on_cpu(self) -> TorchModel:
        """This model, or (on another device) a CPU copy of its IR and weights: what artifacts are exported from,
        so that they load on any machine."""
        return self if self._device.type == "cpu" else TorchModel(self.ir, self.get_weights(), "cpu")

    def save(self, path: Path) -> list[Path]:
        """Write ``<path>``: the IR and the canonical weights (:func:`load_payload` reloads the full model).

        The torch.export program is a separate artifact (:meth:`export_pt2`): ``dnnc build`` and
        ``dnnc export --format pt2`` write it; ``dnnc train`` does not (it costs seconds of imports and tracing).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(self.artifact_payload(), buffer)
        path.write_bytes(buffer.getvalue())
        return [path]

    def export_pt2(self, path: Path) -> Path:
        """Write the inference graph as a torch.export program (``.pt2``, batch axis dynamic; loadable with
        ``torch.export.load`` without dnnc); BackendError saying why when torch.export cannot export it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            program = self._on_cpu().export_program()
            torch.export.save(program, path)
        except Exception as exc:
            path.unlink(missing_ok=True)
            reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
            raise BackendError(f"torch.export could not export model {self.ir.name!r}, so {path} was not "
                               f"written ({reason})") from None
        return path

    def export_program(self) -> torch.export.ExportedProgram:
        """The inference-mode graph as a torch.export program with a dynamic batch axis."""
        self._set_mode(False)
        examples = tuple(torch.zeros((2, *self.ir.node(name).shape),
                                     dtype=torch.int64 if self.ir.node(name).attrs.dtype == "int64" else torch.float32)
                         for name in self._input_names)
        batch = torch.export.Dim("batch", min=1)
        dynamic = {"inputs": tuple({0: batch} for _ in examples)}
        return torch.export.export(self.graph, examples, dynamic_shapes=dynamic, strict=False)

    def export_onnx(self, path: Path, *, logits: bool = False, opset: int) -> str:
        """Write the inference graph as an ONNX file (heads applied unless `logits`); the exporter's name."""
        from .onnx_export import export_torch_onnx

        model = self._on_cpu()
        model._set_mode(False)
        return export_torch_onnx(model.graph, model.ir, Path(path), logits=logits, opset=opset)


def load_payload(path: Path) -> tuple[ModelIR, dict[str, np.ndarray]]:
    """Read an artifact written by :meth:`TorchModel.save` without unpickling arbitrary objects."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, Mapping) or payload.get("format") != ARTIFACT_FORMAT:
        raise ValueError(f"{path} is not a dnnc torch artifact (expected a {ARTIFACT_FORMAT!r} payload)")
    if payload.get("format_version") != ARTIFACT_VERSION:
        raise ValueError(f"{path} has artifact format version {payload.get('format_version')!r}; "
                         f"this dnnc reads version {ARTIFACT_VERSION}")
    ir = ModelIR.from_json(payload["ir"])
    weights = {k: v.numpy() for k, v in payload["weights"].items()}
    return ir, weights
