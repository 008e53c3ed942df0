"""The built-in Keras 3 (TensorFlow) backend.

Importing this package does not import keras or tensorflow: they are imported
when a model is built or loaded (:mod:`.runtime`).  Artifacts that use the
tanh-approximated GELU need ``import dnnc.backends.keras.custom_objects``
before a plain ``keras.saving.load_model`` (see :mod:`.custom_objects`).
"""

from .backend import KerasBackend
from .model import KerasModel

__all__ = ["KerasBackend", "KerasModel"]
