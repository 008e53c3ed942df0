"""dnnc: one declarative network spec, equivalent Keras and PyTorch models.

The Python API re-exported here never imports TensorFlow or PyTorch; backends
load their framework only when they build a model.
"""

from ._version import __version__
from .compiler.compile import compile_spec, compile_text, load_spec
from .compiler.errors import SpecError, SpecIssue
from .compiler.initial_weights import initial_weights
from .compiler.ir import ModelIR
from .plugins.manager import get_registry

__all__ = [
    "__version__", "compile_spec", "compile_text", "load_spec", "SpecError", "SpecIssue",
    "initial_weights", "ModelIR", "get_registry",
]
