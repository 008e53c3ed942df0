"""TorchBackend: the built-in PyTorch backend (registered through :mod:`.plugin`).

Importing this module and calling :meth:`TorchBackend.status` do not import
torch; :meth:`build` and :meth:`load` do.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from ...compiler.ir import ModelIR
from ..base import Arrays, BackendError, check_supported
from .converters import CONVERTERS


class TorchBackend:
    """Builds dnnc models as torch modules (CPU)."""

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

    def build(self, ir: ModelIR, weights: Arrays) -> "TorchModel":  # noqa: F821
        """Build the torch model for `ir` and load the canonical `weights`."""
        check_supported(self, ir)
        self._require_torch()
        from .model import TorchModel

        return TorchModel(ir, weights)

    def load(self, path: Path) -> "TorchModel":  # noqa: F821
        """Rebuild a model from a ``.pt`` artifact written by ``TorchModel.save``."""
        self._require_torch()
        from .model import load_payload

        path = Path(path)
        if not path.is_file():
            raise BackendError(f"cannot load torch artifact {str(path)!r}: no such file")
        try:
            ir, weights = load_payload(path)
        except Exception as exc:
            raise BackendError(f"cannot load torch artifact {str(path)!r}: {exc}") from exc
        return self.build(ir, weights)
