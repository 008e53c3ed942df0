"""NumpyBackend: the backend object dnnc's registry lists (``dnnc backends``).

NumPy is already a dependency of dnnc itself, so "the framework" is always
there; :meth:`status` still only reads package metadata.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from dnnc.backends.base import Arrays, BackendError, check_supported, check_weights
from dnnc.compiler.ir import ModelIR

from .layers import LAYERS


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


class NumpyBackend:
    """A pure-NumPy backend with hand-written forward and backward passes (float32, CPU)."""

    name = "numpy"
    #: IR ops with a layer class in :data:`dnnc_numpy.layers.LAYERS` (forward and backward).
    supported_ops: frozenset[str] = frozenset(LAYERS)
    artifact_suffix = ".npz"

    def status(self) -> tuple[bool, str]:
        return True, f"numpy {_version('numpy')} (dnnc-numpy {_version('dnnc-numpy')})"

    def build(self, ir: ModelIR, weights: Arrays) -> "NumpyModel":  # noqa: F821
        """Build the model for `ir` and load the canonical `weights`."""
        check_supported(self, ir)
        check_weights(ir, weights)  # wrong weights: the protocol's ValueError
        from .model import NumpyModel

        try:
            return NumpyModel(ir, weights)
        except ValueError as exc:  # an attribute the backend cannot honour (unknown activation, loss, optimizer…)
            raise BackendError(f"the numpy backend cannot build model {ir.name!r}: {exc}") from exc

    def load(self, path: Path) -> "NumpyModel":  # noqa: F821
        """Rebuild a model from a ``.npz`` artifact written by ``NumpyModel.save``."""
        from .artifact import read_artifact

        path = Path(path)
        if not path.is_file():
            raise BackendError(f"cannot load numpy artifact {str(path)!r}: no such file")
        try:
            ir, weights = read_artifact(path)
        except Exception as exc:
            raise BackendError(f"cannot load numpy artifact {str(path)!r}: {exc}") from exc
        return self.build(ir, weights)
