"""What every conformance level shares: the options, the progress seam, backend selection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..backends.base import unsupported_ops
from ..compiler.ir import ModelIR
from .results import FAIL, LEVELS, SKIP, Check

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend


@dataclass(frozen=True)
class ConformOptions:
    """Everything `dnnc conform` can be told (None: the spec's ``[conformance]`` value, or the default)."""

    levels: tuple[str, ...] = LEVELS
    #: Seeds of the training level's first look (default: 0 … ``[conformance] seeds`` − 1); later looks add
    #: the next seeds (max(seeds) + 1, …).
    seeds: tuple[int, ...] | None = None
    #: Seeds per backend after which an undecided comparison is INCONCLUSIVE (default ``[conformance] max_seeds``).
    max_seeds: int | None = None
    #: Allowed difference of mean test accuracy, percentage points (default ``[conformance] accuracy_tolerance``).
    tolerance_pp: float | None = None
    #: Confidence of the decision, spent over the looks (default ``[conformance] confidence``).
    confidence: float | None = None
    #: Epochs of the float32 drift calibration per seed, 0: none (default ``[conformance] drift_epochs``).
    drift_epochs: int | None = None
    #: Largest allowed cross-backend drift / 1-ulp control drift (default ``[conformance] drift_factor``).
    drift_factor: float | None = None
    #: The verdict's interval: "paired" (per-seed differences; Welch when a seed lacks a run in either
    #: backend) or "welch" (independent samples).
    interval: str = "paired"
    #: Force ``training.strict_parity`` (dnnc-drawn dropout masks, deterministic kernels).
    strict: bool = False
    #: Epochs of the training level (default: the spec's).
    epochs: int | None = None
    data_dir: Path | None = None
    #: Batches of the numeric level's single-batch checks.
    numeric_batches: int = 2
    #: Optimizer steps of the numeric level's trajectory.
    trajectory_steps: int = 20
    #: The numeric level's allowance, in units of each element's float32 error bound (|Δ| ≤ factor·B).
    numeric_factor: float = 1.0
    #: Seed of the numeric level's initial weights, batch order and masks (default: the spec's training seed).
    numeric_seed: int | None = None
    #: "fail": an op a backend does not support is a failure (the CLI); "skip": a skipped check (the kit).
    unsupported: str = "fail"
    #: The device of every backend named without one (``torch`` rather than ``torch@cuda``); None: the spec's
    #: ``training.device``.
    device: str | None = None


class ProgressSink:
    """Where the levels report progress (the CLI passes a rich implementation); every method may be a no-op."""

    def start(self, description: str, total: float | None = None) -> Any:
        return None

    def advance(self, task: Any, amount: float = 1.0, description: str | None = None) -> None:
        pass

    def finish(self, task: Any) -> None:
        pass

    def training_progress(self, description: str) -> Any:
        """A :class:`dnnc.runner.progress.Progress` for one training run (None: quiet)."""
        return None


def resolve_backends(names: Sequence[str], ir: ModelIR | None = None, device: str | None = None) -> list["Backend"]:
    """The registered backends, in order (the first is the reference), each placed on its device; unknown or
    unavailable names, and devices this machine does not have, raise BackendError (DeviceError).

    A name may carry a device, ``backend@device`` (``torch@cpu``, ``torch@cuda:1``): the same backend on two
    devices is then compared like two backends, under those labels.  A name without one runs on `device`, else
    the IR's ``training.device`` (``auto`` without an IR)."""
    from ..backends.base import BackendError
    from ..backends.devices import place, requested_device, split_qualified

    names = list(names)
    if len(names) < 2:
        raise BackendError(f"conformance compares at least two backends, the first being the reference "
                           f"(received {', '.join(names) or 'none'})")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BackendError(f"backend{'s' if len(dupes) > 1 else ''} {', '.join(map(repr, dupes))} listed twice")
    from ..plugins.manager import get_registry

    registry = get_registry()
    default = device if device is not None else requested_device(ir)
    placed = []
    for name in names:
        try:
            backend_name, qualified = split_qualified(name)
        except ValueError as exc:
            raise BackendError(f"--backends {exc}") from None
        backend = registry.available_backend(backend_name)
        placed.append(place(backend, qualified or default, label=name if qualified else None))
    return placed


def unsupported_check(level: str, backend: "Backend", reference: str, ir: ModelIR, policy: str) -> Check | None:
    """None when `backend` declares every op of `ir`; otherwise a FAIL (policy "fail") or SKIP check naming them."""
    missing = unsupported_ops(backend, ir)
    if not missing:
        return None
    layers = [n.name for n in ir.nodes if n.op in missing]
    detail = "; ".join(f"unsupported op {op} by backend {backend.name}" for op in missing) + \
        f" (layer{'s' if len(layers) > 1 else ''} {', '.join(layers)})"
    return Check(level, "supported ops", backend.name, reference, SKIP if policy == "skip" else FAIL,
                 target=", ".join(missing), detail=detail)


def with_strict_parity(ir: ModelIR) -> ModelIR:
    """The IR with ``training.strict_parity = true``."""
    if ir.training is None or ir.training.strict_parity:
        return ir
    return ir.model_copy(update={"training": ir.training.model_copy(update={"strict_parity": True})})


def with_seed(ir: ModelIR, seed: int) -> ModelIR:
    """The IR with ``training.seed = seed``."""
    if ir.training is None or ir.training.seed == seed:
        return ir
    return ir.model_copy(update={"training": ir.training.model_copy(update={"seed": int(seed)})})
