"""TorchBackend: the built-in PyTorch backend (registered through :mod:`.plugin`).

Importing this module and calling :meth:`TorchBackend.status` do not import
torch; :meth:`resolve_device`, :meth:`build` and :meth:`load` do.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from ...compiler.ir import ModelIR
from ..base import Arrays, BackendError, check_supported
from ..devices import cuda_index, requested_device, unavailable
from .converters import CONVERTERS


class TorchBackend:
    """Builds dnnc models as torch modules, on the CPU, a CUDA GPU or Apple's MPS (see :meth:`resolve_device`)."""

    name = "torch"
    supported_ops: frozenset[str] = frozenset(CONVERTERS)
    artifact_suffix = ".pt"

    def status(self) -> tuple[bool, str]:
        if importlib.util.find_spec("torch") is None:
            return False, "torch is not installed (install it with: pip install 'dnnc[torch]')"
        try:
            version = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown version"
        return True, f"torch {version}"

    def _require_torch(self) -> None:
        available, detail = self.status()
        if not available:
            raise BackendError(f"the torch backend is not available: {detail}")

    def available_devices(self) -> list[str]:
        """The devices torch can use on this machine: ``cpu``, then ``cuda:0`` … and ``mps`` when present."""
        import torch

        devices = ["cpu"]
        if torch.cuda.is_available():
            devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices.append("mps")
        return devices

    def resolve_device(self, requested: str) -> str:
        """The concrete device for `requested`: ``auto`` is ``cuda:0`` when torch sees a CUDA GPU, else ``cpu``
        (MPS only when asked for); ``cuda`` is ``cuda:0``.  DeviceError when this machine does not have it."""
        self._require_torch()
        available = self.available_devices()
        if requested == "auto":
            return "cuda:0" if "cuda:0" in available else "cpu"
        index = cuda_index(requested)
        concrete = requested if index is None else f"cuda:{index}"
        if concrete in available:
            return concrete
        import torch

        if index is not None and not torch.cuda.is_available():
            why = ("this torch build has no CUDA support" if torch.version.cuda is None
                   else f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no CUDA GPU")
        elif index is not None:
            why = f"torch sees {torch.cuda.device_count()} CUDA GPU(s)"
        else:
            why = "torch finds no MPS device"
        raise unavailable(self.name, requested, available, why)

    def build(self, ir: ModelIR, weights: Arrays, *, device: str | None = None) -> "TorchModel":  # noqa: F821
        """Build the torch model for `ir` on `device` (a concrete device from :meth:`resolve_device`; default:
        the IR's requested device, resolved) and load the canonical `weights`."""
        check_supported(self, ir)
        self._require_torch()
        from .model import TorchModel

        concrete = self.resolve_device(requested_device(ir) if device is None else device)
        return TorchModel(ir, weights, concrete)

    def load(self, path: Path, *, device: str | None = None) -> "TorchModel":  # noqa: F821
        """Rebuild a model from a ``.pt`` artifact written by ``TorchModel.save`` (on `device`, as :meth:`build`)."""
        self._require_torch()
        from .model import load_payload

        path = Path(path)
        if not path.is_file():
            raise BackendError(f"cannot load torch artifact {str(path)!r}: no such file")
        try:
            ir, weights = load_payload(path)
        except Exception as exc:
            raise BackendError(f"cannot load torch artifact {str(path)!r}: {exc}") from exc
        return self.build(ir, weights, device=device)
