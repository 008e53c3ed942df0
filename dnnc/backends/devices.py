"""Devices: which hardware a backend runs a model on (``[training] device``, ``--device``).

The spec (and ``--device``) names a *requested* device:

* ``"auto"`` (the default) — the backend's choice on this machine, made when the model is built: the torch
  backend takes the first CUDA GPU when torch sees one and the CPU otherwise (never MPS, which must be asked
  for); the Keras backend follows TensorFlow's placement (its first GPU when its build has one, the CPU
  otherwise).  The run manifest records the device it resolved to, so "auto" never hides where a run ran.
* ``"cpu"`` — the CPU (the Keras backend places the model and its steps under ``keras.device("cpu:0")``);
* ``"cuda"`` — the current CUDA GPU (resolved to ``"cuda:0"``); ``"cuda:N"`` — the N-th one;
* ``"mps"`` — Apple's Metal GPU.

The compiler only checks the name (an unknown one is a spec error); whether this machine has the device is
decided by the backend when the model is built — a device it does not have is a :class:`DeviceError` (an
environment error, exit 1) naming the device and what is available.

For backend authors: a backend that runs on more than the CPU implements the optional

    ``Backend.resolve_device(self, requested: str) -> str``

returning the concrete device (``"cpu"``, ``"cuda:0"``, ``"mps"``…) for a requested one, or raising
:class:`DeviceError`; dnnc then passes that concrete device to ``build(ir, weights, device=…)`` and
``load(path, device=…)``.  A backend without it is a CPU backend: dnnc accepts ``"auto"`` and ``"cpu"``
for it (both resolve to ``"cpu"``), refuses every other device with a DeviceError saying so, and calls its
``build(ir, weights)`` / ``load(path)`` unchanged.  :func:`place` does this for every backend, and
:class:`PlacedBackend` is what the runner and ``dnnc conform`` build models with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .base import BackendError

if TYPE_CHECKING:  # pragma: no cover
    from ..compiler.ir import ModelIR
    from .base import Arrays, Backend, CompiledModel

#: What a device may be written as (``cuda:N`` stands for any GPU index).
DEVICE_FORMS: tuple[str, ...] = ("auto", "cpu", "cuda", "cuda:N", "mps")
ALLOWED_TEXT = "'auto', 'cpu', 'cuda', 'cuda:N' (N = 0, 1, …), 'mps'"
_DEVICE = re.compile(r"(auto|cpu|cuda|mps|cuda:(0|[1-9][0-9]{0,3}))")


class DeviceError(BackendError):
    """The requested device is not available on this machine (or not to this backend): an environment error."""


def is_device_name(text: object) -> bool:
    """Whether `text` is one of the device forms (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""
    return isinstance(text, str) and _DEVICE.fullmatch(text) is not None


def check_device_name(text: str, where: str = "--device") -> str:
    """`text` when it is a device name; ValueError ``<where>: received …; allowed: …`` otherwise."""
    if not is_device_name(text):
        raise ValueError(f"{where}: not a device (received {text!r}; allowed: {ALLOWED_TEXT})")
    return text


def requested_device(ir: "ModelIR | None") -> str:
    """The device the IR asks for (``training.device``; ``"auto"`` without a training section)."""
    training = None if ir is None else ir.training
    return "auto" if training is None else training.device


def cuda_index(device: str) -> int | None:
    """N of ``cuda:N`` (0 for ``cuda``), None for another device."""
    if device == "cuda":
        return 0
    if device.startswith("cuda:"):
        return int(device.split(":", 1)[1])
    return None


def unavailable(backend: str, requested: str, available: Sequence[str], why: str = "") -> DeviceError:
    """The DeviceError every backend raises for a device this machine does not have (one line)."""
    listing = ", ".join(available) or "none"
    return DeviceError(f"device {requested!r} is not available to the {backend} backend"
                       f"{f' ({why})' if why else ''}; available here: {listing}")


def cpu_only(backend_name: str, requested: str) -> str:
    """The resolution of a CPU backend (one without ``resolve_device``): ``"cpu"`` for auto/cpu, a DeviceError otherwise."""
    if requested in ("auto", "cpu"):
        return "cpu"
    raise unavailable(backend_name, requested, ["cpu"], "it runs on the CPU only")


def device_aware(backend: "Backend") -> bool:
    """Whether the backend implements ``resolve_device`` (and so takes ``device=`` in build and load)."""
    return callable(getattr(backend, "resolve_device", None))


def resolve_device(backend: "Backend", requested: str) -> str:
    """The concrete device `backend` runs a model requesting `requested` on, on this machine (DeviceError if none)."""
    if not is_device_name(requested):
        raise DeviceError(f"not a device: {requested!r} (allowed: {ALLOWED_TEXT})")
    if isinstance(backend, PlacedBackend):
        backend = backend.backend
    if not device_aware(backend):
        return cpu_only(backend.name, requested)
    return backend.resolve_device(requested)


@dataclass(frozen=True, eq=False)
class PlacedBackend:
    """A backend bound to one concrete device: its ``build`` and ``load`` put the model there.

    ``name`` is the backend's own name, or a ``label`` such as ``"torch@cpu"`` (``dnnc conform`` compares
    ``torch@cpu`` and ``torch@cuda`` like two backends); every other attribute is the backend's.
    """

    backend: Any
    requested: str
    device: str
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.backend.name

    def __getattr__(self, item: str) -> Any:  # supported_ops, artifact_suffix, status, plugin extras…
        if item.startswith("__") or item in ("backend", "requested", "device", "label"):
            raise AttributeError(item)  # not set yet (copying, unpickling): never recurse
        return getattr(self.backend, item)

    def build(self, ir: "ModelIR", weights: "Arrays") -> "CompiledModel":
        if device_aware(self.backend):
            return self.backend.build(ir, weights, device=self.device)
        return self.backend.build(ir, weights)

    def load(self, path: Path) -> "CompiledModel":
        if device_aware(self.backend):
            return self.backend.load(path, device=self.device)
        return self.backend.load(path)

    def record(self) -> dict[str, str]:
        """The manifest's ``device`` entry."""
        return {"requested": self.requested, "resolved": self.device}


def place(backend: "Backend", requested: str, label: str | None = None) -> PlacedBackend:
    """`backend` bound to the device `requested` resolves to on this machine (DeviceError if it has none)."""
    if isinstance(backend, PlacedBackend):
        backend = backend.backend
    return PlacedBackend(backend, requested, resolve_device(backend, requested), label)


def split_qualified(name: str) -> tuple[str, str | None]:
    """``"torch@cuda:1"`` → (``"torch"``, ``"cuda:1"``); ``"torch"`` → (``"torch"``, None).  A device part that
    is not a device name raises ValueError."""
    backend, sep, device = name.partition("@")
    if not sep:
        return name, None
    return backend, check_device_name(device, f"{name!r}")


def model_device(model: Any) -> str:
    """The concrete device a built model runs on (``model.device``; ``"cpu"`` for backends without devices)."""
    device = getattr(model, "device", None)
    return str(device) if device is not None else "cpu"
