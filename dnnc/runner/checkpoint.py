"""Resumable checkpoints: everything needed to continue a run exactly where it was.

One file, ``checkpoint.npz`` in the run directory, replaced atomically
(temporary file, fsync, rename: :mod:`dnnc.runner.callbacks.atomic`), so a
process killed at any moment leaves the previous checkpoint or the complete new
one.  It is an uncompressed NumPy archive with these keys:

==========================  =============================================================
``meta.json``               UTF-8 JSON (uint8 array): format and version, the backend that
                            wrote it, the SHA-256 of the run's IR, the position (epoch to
                            run, batches of it done), the loop's state (global step,
                            learning-rate factor, stop request, unfrozen layers), the
                            seconds spent in the running epoch, the history so far, the
                            facts the batch order depends on (seed, batch size, rows), the
                            callbacks' states (arrays replaced by references) and the time
``weights/<node>/<param>``  every parameter in the canonical layout (moving statistics too)
``optimizer/<key>``         the canonical optimizer state (``CompiledModel.optimizer_state``:
                            ``<node>/<param>/<slot>``, ``iterations``, ``u_product``…)
``random/<key>``            the backend's own generator state (``random_state``), when it has one
``metrics``                 mid-epoch only: the running epoch's training metric sums (float64)
``callbacks/<i>/…``         arrays of callback ``i``'s state (e.g. early stopping's best weights)
==========================  =============================================================

The position: a checkpoint written at the end of epoch ``e`` (0-based) says
"epoch ``e + 1``, 0 batches done"; one written after optimizer step ``k`` in
the middle of epoch ``e`` says "epoch ``e``, ``b`` batches done" (the batch
order of an epoch is a function of (seed, epoch), so the loop regenerates it
and skips the first ``b`` batches).  The dropout masks of strict-parity runs are
a function of (seed, node, global step) and need no state.

When checkpoints are written (``training.checkpoint``): after every
``every_steps``-th optimizer step (counted over the run) and at the end of every
``every_epochs``-th epoch, skipping one due less than ``min_seconds`` after the
previous one; the end of the last epoch (or of the epoch training stopped at)
always gets one.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..compiler.ir import CheckpointIR, ModelIR
from .callbacks.atomic import atomic_save_npz
from .context import TrainingState
from .errors import RunnerError
from .records import now_iso

CHECKPOINT_FILE = "checkpoint.npz"
FORMAT = "dnnc-checkpoint"
FORMAT_VERSION = 1


def ir_digest(ir: ModelIR) -> str:
    """The SHA-256 of the IR's JSON (a checkpoint only continues the run of the same IR).

    Without ``training.device``, ``training.steps_per_execution`` and ``training.compile``: where, how many steps
    per call and whether compiled the model runs is not what it is (a run continues on another device, ``dnnc
    resume --device``; the results do not depend on the steps per call; a compiled step is the same step), and the
    digests of checkpoints written before the IR had them still match."""
    exclude = {"training": {"device", "steps_per_execution", "compile"}} if ir.training is not None else None
    return hashlib.sha256(ir.model_dump_json(indent=2, exclude=exclude).encode("utf-8")).hexdigest()


@dataclass
class Checkpoint:
    """One resumable state of a run (see the module docstring)."""

    backend: str
    ir_sha256: str
    state: TrainingState
    """The loop's state; ``state.epoch`` is the epoch to run (or running), ``step_in_epoch`` its batches done."""
    step_in_epoch: int
    epoch_seconds: float
    history: dict[str, Any]
    """:meth:`dnnc.runner.history.History.to_dict` of the epochs done."""
    facts: dict[str, int]
    """What the batch order depends on: ``seed``, ``batch_size``, ``steps_per_epoch``, ``train_rows``."""
    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    random: dict[str, np.ndarray] | None = None
    metrics: np.ndarray | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    written: str = ""

    def position(self, steps_per_epoch: int | None = None) -> str:
        """A description such as "epoch 3, after step 5/8 (global step 21)" (1-based)."""
        steps = steps_per_epoch or self.facts.get("steps_per_epoch", 0)
        if self.step_in_epoch:
            return (f"epoch {self.state.epoch + 1}, after step {self.step_in_epoch}/{steps} "
                    f"(global step {self.state.global_step})")
        return f"the end of epoch {self.state.epoch} (global step {self.state.global_step})"

    def summary(self) -> dict[str, Any]:
        """A JSON summary for the manifest: 1-based epoch, batches done, global step, time written."""
        return {"epoch": self.state.epoch + (1 if self.step_in_epoch else 0), "step_in_epoch": self.step_in_epoch,
                "global_step": self.state.global_step, "written": self.written}


# --------------------------------------------------------------------------
# writing and reading
# --------------------------------------------------------------------------


def _encode(value: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """`value` as JSON with its arrays moved into `arrays` (replaced by ``{"__array__": key}``)."""
    if isinstance(value, np.ndarray):
        arrays[prefix] = value
        return {"__array__": prefix}
    if isinstance(value, dict):
        return {str(k): _encode(v, f"{prefix}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{prefix}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def write_checkpoint(path: str | Path, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint` to `path` atomically."""
    arrays: dict[str, np.ndarray] = {}
    arrays.update({f"weights/{k}": v for k, v in checkpoint.weights.items()})
    arrays.update({f"optimizer/{k}": v for k, v in checkpoint.optimizer.items()})
    if checkpoint.random is not None:
        arrays.update({f"random/{k}": v for k, v in checkpoint.random.items()})
    if checkpoint.metrics is not None:
        arrays["metrics"] = np.asarray(checkpoint.metrics, dtype=np.float64)
    callbacks = [_encode(c, f"callbacks/{i}", arrays) for i, c in enumerate(checkpoint.callbacks)]
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "backend": checkpoint.backend,
        "ir_sha256": checkpoint.ir_sha256, "state": checkpoint.state.to_dict(),
        "step_in_epoch": checkpoint.step_in_epoch, "epoch_seconds": checkpoint.epoch_seconds,
        "history": checkpoint.history, "facts": checkpoint.facts, "callbacks": callbacks,
        "has_random": checkpoint.random is not None, "written": checkpoint.written or now_iso(),
    }
    arrays["meta.json"] = np.frombuffer(json.dumps(meta, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    return atomic_save_npz(path, arrays)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint in `path`; RunnerError naming the file when it is missing or not a dnnc checkpoint."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise RunnerError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError) as exc:
        raise RunnerError(f"{path}: not a readable checkpoint ({exc})") from None
    try:
        meta = json.loads(arrays.pop("meta.json").tobytes().decode("utf-8"))
    except (KeyError, ValueError) as exc:
        raise RunnerError(f"{path}: not a dnnc checkpoint (no readable meta.json: {exc})") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise RunnerError(f"{path}: checkpoint format {meta.get('format')!r} version {meta.get('format_version')!r}; "
                          f"this dnnc reads {FORMAT!r} version {FORMAT_VERSION}")

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    return Checkpoint(
        backend=meta["backend"], ir_sha256=meta["ir_sha256"], state=TrainingState.from_dict(meta["state"]),
        step_in_epoch=int(meta["step_in_epoch"]), epoch_seconds=float(meta["epoch_seconds"]),
        history=meta["history"], facts={k: int(v) for k, v in meta["facts"].items()},
        weights=part("weights/"), optimizer=part("optimizer/"),
        random=part("random/") if meta["has_random"] else None, metrics=arrays.get("metrics"),
        callbacks=[_decode(c, arrays) for c in meta["callbacks"]], written=meta["written"],
    )


# --------------------------------------------------------------------------
# when to write
# --------------------------------------------------------------------------


class CheckpointWriter:
    """Decides when a checkpoint is due (``training.checkpoint``) and writes it to `path`."""

    def __init__(self, path: str | Path, config: CheckpointIR, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.config = config
        self._clock = clock
        self._last: float | None = None
        #: How many checkpoints this writer wrote.
        self.count = 0

    def _recent(self) -> bool:
        return self._last is not None and self._clock() - self._last < self.config.min_seconds

    def step_due(self, global_step: int) -> bool:
        """After optimizer step number `global_step` (1-based count of steps done)."""
        every = self.config.every_steps
        return bool(every) and global_step % every == 0 and not self._recent()

    def epoch_due(self, epoch: int, last: bool) -> bool:
        """At the end of 0-based `epoch`; `last` when no epoch follows (the last one, or training stopped)."""
        if not self.config.enabled:
            return False
        if last:
            return True
        every = self.config.every_epochs
        return bool(every) and (epoch + 1) % every == 0 and not self._recent()

    def write(self, checkpoint: Checkpoint) -> Path:
        checkpoint.written = now_iso()
        path = write_checkpoint(self.path, checkpoint)
        self._last = self._clock()
        self.count += 1
        return path


__all__ = ["CHECKPOINT_FILE", "Checkpoint", "CheckpointWriter", "ir_digest", "read_checkpoint", "write_checkpoint"]
