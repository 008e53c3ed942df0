"""The built-in Keras 3 (TensorFlow) backend (keras is imported only when a model is built or loaded)."""

from .backend import KerasBackend

__all__ = ["KerasBackend"]
