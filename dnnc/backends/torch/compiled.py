"""The compiled training step of the torch backend (``[training] compile = true``).

``torch.compile`` (TorchInductor; with CUDA graphs, ``mode="reduce-overhead"``,
on a CUDA device) compiles the forward pass and the loss of a training step;
AOTAutograd compiles its backward pass with it; the optimizer update is a
second compiled function (below).

What stays exactly as in the uncompiled step:

* the dropout masks: compiled code cannot draw from the model's
  ``torch.Generator``, so the step draws every keep mask first, from that
  generator and in the order the uncompiled step draws them
  (:meth:`.graph.GraphModule.draw_masks`), and passes them in — the same
  masks, and the generator ends where the uncompiled step leaves it;
* the data, the batch order, the optimizer, the metrics (the step returns the
  same loss and logits tensors).

What changes is the float32 rounding: Inductor fuses element-wise operations
and reorders reductions, so the numbers agree with the uncompiled step (and
the other backends) within the conformance tolerances, not bit for bit — which
is why ``compile`` cannot be combined with ``strict_parity``.

The optimizer update is compiled too (:meth:`.optimizers.KerasFormulaOptimizer.compile`):
clipping, weight decay and the update rule of every parameter in fused kernels,
from the second step on, with the step's scalars (learning rate, bias
corrections) passed as tensors so a schedule does not recompile.

Shapes are static (``dynamic=False``): each batch size compiles once (the full
batch and the last partial one); :meth:`CompiledStep.warm_up` does both before
the first epoch, so the epochs do not pay for it. Building a compiled model
resets Dynamo's caches (``torch._dynamo.reset()``): the models a process built
before are done with, and Dynamo would stop compiling after eight of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..base import Arrays, BackendError

if TYPE_CHECKING:  # pragma: no cover
    from .model import TorchModel


def _compiler_errors() -> tuple[type[BaseException], ...]:
    """The exceptions torch raises when Dynamo or Inductor cannot compile (not errors of the model or data)."""
    errors: list[type[BaseException]] = []
    try:
        from torch._dynamo import exc as dynamo_exc

        errors += [dynamo_exc.BackendCompilerFailed, dynamo_exc.InternalTorchDynamoError]
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        pass
    try:
        from torch._inductor.exc import InductorError

        errors.append(InductorError)
    except (ImportError, AttributeError):  # pragma: no cover - older torch
        pass
    return tuple(errors)


class CompiledStep:
    """``torch.compile`` of one model's training forward pass and loss (see the module docstring)."""

    def __init__(self, model: "TorchModel") -> None:
        import torch._dynamo

        # Dynamo keeps at most torch._dynamo.config.cache_size_limit compiled versions of a function per process
        # and silently runs it uncompiled after that; each model (and its optimizer) is a version, so a process
        # that builds models one after the other (a search, the conformance seeds) would stop compiling after
        # the eighth. The models before this one are done with; their versions are dropped.
        torch._dynamo.reset()
        self.model = model
        self.mode = "reduce-overhead" if model._device.type == "cuda" else "default"
        self._function = torch.compile(model._forward_loss, dynamic=False, mode=self.mode)  # compiles on first call
        self._errors = _compiler_errors()

    @property
    def description(self) -> str:
        """What the run manifest records."""
        return f"torch.compile (inductor, mode={self.mode})"

    def __call__(self, inputs: list[torch.Tensor], targets: list[torch.Tensor], sample_weight: torch.Tensor | None,
                 masks: Mapping[str, torch.Tensor] | None):
        """(total loss, per-output losses, outputs) of the training-mode pass, with gradients; the keep masks are
        drawn from the model's generator first when `masks` is None."""
        model = self.model
        if masks is None:
            masks = model.graph.draw_masks(int(inputs[0].shape[0]), torch.float32, model._device) or None
        try:
            return self._function(inputs, targets, sample_weight, masks)
        except self._errors as exc:
            first = str(exc).strip().splitlines()
            raise BackendError(
                "training.compile = true: torch.compile could not compile the training step on this machine ("
                f"{type(exc).__name__}: {first[0] if first else 'no message'}); set training.compile = false "
                "to train without compiling") from exc

    def warm_up(self, batches: list[tuple[Arrays, Arrays, np.ndarray | None]]) -> None:
        """Compile for the shapes of `batches` ((inputs, targets, sample weight) of each batch size the training
        will see) without changing the model: the forward and backward passes run, then the optimizer's compiled
        update (:meth:`.optimizers.KerasFormulaOptimizer.warm_up`, which restores the parameters and slots); the
        gradients are dropped, the moving statistics restored and the generator put back where it was."""
        model = self.model
        saved_buffers = [(b, b.detach().clone()) for b in model.graph.buffers()]
        saved_generator = model.generator.get_state()
        optimizer = model._optimizer or model._build_optimizer()
        model._set_mode(True)
        try:
            for inputs, targets, sample_weight in batches:
                tensors, target_tensors, sw = model._batch_tensors(inputs, targets, sample_weight)
                with torch.enable_grad():
                    total, _, _ = self(tensors, target_tensors, sw, None)
                    total.backward()
                optimizer.warm_up()  # the compiled update too, from these gradients; all put back
                for p in model._params:
                    p.grad = None
        finally:
            with torch.no_grad():
                for buffer, value in saved_buffers:
                    buffer.copy_(value)
            model.generator.set_state(saved_generator)
