"""KerasBackend: the built-in Keras 3 (TensorFlow) backend (registered through :mod:`.plugin`).

Importing this module and calling :meth:`KerasBackend.status` do not import
keras or tensorflow; :meth:`build` and :meth:`load` do (see :mod:`.runtime` for
the environment they set first).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

from ...compiler.ir import ModelIR
from ..base import Arrays, BackendError, check_supported
from .converters import CONVERTERS

_TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tf-nightly")


def _version(*distributions: str) -> str | None:
    for dist in distributions:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


class KerasBackend:
    """Builds dnnc models as functional Keras 3 models on TensorFlow."""

    name = "keras"
    supported_ops: frozenset[str] = frozenset(CONVERTERS)
    artifact_suffix = ".keras"

    def status(self) -> tuple[bool, str]:
        if importlib.util.find_spec("tensorflow") is None:
            return False, "tensorflow is not installed (install it with: pip install 'dnnc[keras]')"
        if importlib.util.find_spec("keras") is None:
            return False, "keras is not installed (install it with: pip install 'dnnc[keras]')"
        keras_version = _version("keras") or "unknown version"
        if not keras_version.startswith("3."):
            return False, f"keras {keras_version} is installed; the keras backend needs keras 3"
        loaded = sys.modules.get("keras")
        if loaded is not None and hasattr(loaded, "backend") and loaded.backend.backend() != "tensorflow":
            return False, (f"keras is already running on the {loaded.backend.backend()!r} backend; "
                           "the keras backend needs 'tensorflow'")
        tf_version = _version(*_TF_DISTRIBUTIONS) or "unknown version"
        return True, f"keras {keras_version}, tensorflow {tf_version}"

    def _require(self) -> None:
        available, detail = self.status()
        if not available:
            raise BackendError(f"the keras backend is not available: {detail}")

    def build(self, ir: ModelIR, weights: Arrays) -> "KerasModel":  # noqa: F821
        """Build the functional Keras model for `ir` and load the canonical `weights`."""
        check_supported(self, ir)
        self._require()
        from .model import KerasModel

        return KerasModel(ir, weights)

    def load(self, path: Path) -> "KerasModel":  # noqa: F821
        """Rebuild a model from ``<path>`` (.keras) and its ``<stem>.ir.json`` written by ``KerasModel.save``."""
        self._require()
        from .model import load_artifact

        ir, weights = load_artifact(Path(path))
        return self.build(ir, weights)
