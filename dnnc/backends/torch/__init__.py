"""The built-in PyTorch backend (torch is imported only when a model is built or loaded)."""

from .backend import TorchBackend

__all__ = ["TorchBackend"]
