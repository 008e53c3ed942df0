"""Building the runner callbacks of a spec: built-in types here, other types from plugins."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..context import CallbackContext
from ..errors import RunnerError
from .base import Callback
from .csv_logger import CsvLogger
from .early_stopping import EarlyStopping
from .histograms import Histograms
from .model_checkpoint import ModelCheckpoint
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN
from .unfreeze import Unfreeze

BUILTIN_CALLBACKS: dict[str, Callable[..., Callback]] = {
    "early_stopping": EarlyStopping,
    "model_checkpoint": ModelCheckpoint,
    "reduce_lr_on_plateau": ReduceLROnPlateau,
    "tensorboard": TensorBoard,
    "csv_logger": CsvLogger,
    "terminate_on_nan": TerminateOnNaN,
    "unfreeze": Unfreeze,
    "histograms": Histograms,
}
"""Callback type → class; constructed with the IR table's fields (every default explicit) as keywords."""


def build_callback(config: Mapping[str, Any], context: CallbackContext, registry=None) -> Callback:
    """One callback from its IR table; plugin types via ``registry.callbacks[type].create(config, context)``.

    Whatever its origin, the callback is later bound to the run's :class:`~dnnc.runner.context.TrainingContext`.
    """
    kind = config.get("type")
    if kind in BUILTIN_CALLBACKS:
        return BUILTIN_CALLBACKS[kind](**{k: v for k, v in config.items() if k != "type"})
    if registry is None:
        from ...plugins.manager import get_registry

        registry = get_registry()
    entry = registry.callbacks.get(kind)
    if entry is None:
        known = sorted(set(BUILTIN_CALLBACKS) | set(registry.callbacks))
        raise RunnerError(f"unknown callback type {kind!r}; known: {', '.join(known)}")
    if entry.create is None:
        plugin = registry.origins.get("dnnc_callback_types" + kind, "?")
        raise RunnerError(f"callback type {kind!r} (plugin {plugin!r}) has no runner implementation: its CallbackType has no create()")
    callback = entry.create(dict(config), context)
    if not isinstance(callback, Callback):
        raise RunnerError(
            f"callback type {kind!r}: create() returned {type(callback).__name__}, not a dnnc.runner.callbacks.Callback"
        )
    return callback


def build_callbacks(configs, context: CallbackContext, registry=None) -> list[Callback]:
    """Every callback of ``ir.training.callbacks``, in the spec's order."""
    return [build_callback(c, context, registry) for c in configs]
