"""Plugin discovery and the registry of backends and vocabulary.

Entry points of the group ``dnnc`` are loaded one by one; a plugin that fails
to import, or whose hook raises, is recorded in :attr:`Registry.failures` with
its name and error and does not stop the others.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

import pluggy

from . import builtin, hookspecs
from .vocabulary import CallbackType, DatasetType, LayerType

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from ..compiler.ops import OpDef

ENTRY_POINT_GROUP = "dnnc"


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    error: str

    def render(self) -> str:
        return f"plugin {self.plugin!r} failed: {self.error}"


@dataclass
class Registry:
    """Everything the installed plugins registered."""

    backends: dict[str, "Backend"] = field(default_factory=dict)
    layers: dict[str, LayerType] = field(default_factory=dict)
    datasets: dict[str, DatasetType] = field(default_factory=dict)
    callbacks: dict[str, CallbackType] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    #: plugin name → names of what it registered, for `dnnc backends`
    origins: dict[str, str] = field(default_factory=dict)

    def spec_model(self):
        """The Pydantic model of a spec for this vocabulary."""
        from ..spec_schema.spec import build_spec_model

        return build_spec_model(
            tuple(t.spec_model for t in self.layers.values()),
            tuple(t.spec_model for t in self.datasets.values()),
            tuple(t.spec_model for t in self.callbacks.values()),
        )

    @property
    def ops(self) -> dict[str, "OpDef"]:
        """The op table: the built-in ops plus the ops plugin layer types define (never replacing a built-in)."""
        from ..compiler.ops import op_table

        return op_table({t.op.name: t.op for t in self.layers.values() if t.op is not None})

    def backend(self, name: str) -> "Backend":
        from ..backends.base import BackendError
        from ..compiler.suggest import did_you_mean

        if name in self.backends:
            return self.backends[name]
        installed = ", ".join(sorted(self.backends)) or "none"
        guess = did_you_mean(name, self.backends)
        hint = f" — did you mean {guess!r}?" if guess else ""
        raise BackendError(f"unknown backend {name!r}{hint}; installed: {installed}")

    def available_backend(self, name: str) -> "Backend":
        """The registered backend `name`, checked to be usable; raises BackendError saying why not."""
        from ..backends.base import BackendError

        backend = self.backend(name)
        ok, detail = backend.status()
        if not ok:
            raise BackendError(f"backend {name!r} is not available: {detail}")
        return backend


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _collect(pm: pluggy.PluginManager, hook_name: str, registry: Registry, sink: dict, key: Callable[[Any], str]) -> None:
    """Call one hook on each plugin separately so one failure does not hide the others."""
    for plugin in pm.get_plugins():
        impl = getattr(plugin, hook_name, None)
        if impl is None:
            continue
        plugin_name = pm.get_name(plugin) or repr(plugin)
        try:
            items = impl() or []
        except Exception as exc:  # a broken plugin must not break dnnc
            registry.failures.append(PluginFailure(plugin_name, f"{hook_name}() raised {_error_text(exc)}"))
            continue
        for item in items:
            try:
                name = key(item)
            except Exception as exc:
                registry.failures.append(PluginFailure(plugin_name, f"{hook_name}() returned an invalid item {item!r}: {exc}"))
                continue
            if name in sink:
                registry.failures.append(PluginFailure(
                    plugin_name, f"{hook_name}(): {name!r} is already registered by {registry.origins.get(hook_name + name, '?')!r}"))
                continue
            sink[name] = item
            registry.origins[hook_name + name] = plugin_name


def build_registry(entry_points: list[Any] | None = None) -> Registry:
    """Load the built-in plugin and every entry point, then collect registrations."""
    pm = pluggy.PluginManager("dnnc")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="dnnc-builtin")
    registry = Registry()
    if entry_points is None:
        entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    for ep in entry_points:
        if pm.has_plugin(ep.name):
            registry.failures.append(PluginFailure(ep.name, "another plugin is already registered under this name"))
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            registry.failures.append(PluginFailure(ep.name, f"could not be loaded ({ep.value}): {_error_text(exc)}"))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        registry.failures.append(PluginFailure(getattr(exc, "plugin_name", "?") or "?", str(exc)))
    _collect(pm, "dnnc_layer_types", registry, registry.layers, lambda t: t.name)
    _collect(pm, "dnnc_dataset_types", registry, registry.datasets, lambda t: t.name)
    _collect(pm, "dnnc_callback_types", registry, registry.callbacks, lambda t: t.name)
    _collect(pm, "dnnc_backends", registry, registry.backends, lambda b: b.name)
    return registry


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    return build_registry()
