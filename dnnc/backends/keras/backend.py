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
from ..devices import cuda_index, requested_device, unavailable
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

    def available_devices(self) -> list[str]:
        """The devices TensorFlow can use here: ``cpu``, then its visible GPUs as ``cuda:0`` … (a CUDA build) or
        ``mps`` (macOS, tensorflow-metal)."""
        self._require()
        from .runtime import import_keras

        import_keras()  # sets the quiet environment before TensorFlow starts
        import tensorflow as tf

        gpus = tf.config.get_visible_devices("GPU")
        if not gpus:
            return ["cpu"]
        if sys.platform == "darwin" and not tf.test.is_built_with_cuda():
            return ["cpu", "mps"]
        return ["cpu", *(f"cuda:{i}" for i in range(len(gpus)))]

    def resolve_device(self, requested: str) -> str:
        """The concrete device for `requested`: ``auto`` follows TensorFlow's placement (its first GPU when it
        has one, else ``cpu``); ``cuda`` is ``cuda:0``.  DeviceError when TensorFlow does not have it."""
        available = self.available_devices()
        if requested == "auto":
            return available[1] if len(available) > 1 else "cpu"
        index = cuda_index(requested)
        concrete = requested if index is None else f"cuda:{index}"
        if concrete in available:
            return concrete
        import tensorflow as tf

        if index is None:  # mps
            why = "TensorFlow has no Metal GPU here (that takes macOS and tensorflow-metal)"
        elif len(available) == 1:
            why = ("this TensorFlow build has no CUDA support" if not tf.test.is_built_with_cuda()
                   else "TensorFlow finds no GPU")
        else:
            why = f"TensorFlow sees {len(available) - 1} GPU(s)"
        raise unavailable(self.name, requested, available, why)

    def build(self, ir: ModelIR, weights: Arrays, *, device: str | None = None) -> "KerasModel":  # noqa: F821
        """Build the functional Keras model for `ir` on `device` (a concrete device from :meth:`resolve_device`;
        default: the IR's requested device, resolved) and load the canonical `weights`."""
        check_supported(self, ir)
        self._require()
        from .model import KerasModel

        concrete = self.resolve_device(requested_device(ir) if device is None else device)
        return KerasModel(ir, weights, concrete)

    def load(self, path: Path, *, device: str | None = None) -> "KerasModel":  # noqa: F821
        """Rebuild a model from ``<path>`` (.keras) and its ``<stem>.ir.json`` written by ``KerasModel.save``
        (on `device`, as :meth:`build`)."""
        self._require()
        from .model import load_artifact

        ir, weights = load_artifact(Path(path))
        return self.build(ir, weights, device=device)
