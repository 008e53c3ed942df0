"""Plugin discovery and the registry of backends and vocabulary.

Plugins are loaded in one fixed order, the same in every process whatever the
order of ``sys.path`` or of the directories' listings:

1. dnnc's built-in vocabulary (:mod:`dnnc.plugins.builtin`: layer, dataset and
   callback types);
2. the entry points of dnnc's own distribution (the ``keras`` and ``torch``
   backends), by entry-point name;
3. every other entry point of the group ``dnnc``, sorted by distribution name
   (compared as pip does: case-insensitive, runs of ``-``, ``_``, ``.`` equal),
   then entry-point name, then value.

Each backend, layer type, dataset type and callback type name belongs to at
most one plugin.  When several plugins register one name
(:class:`~dnnc.plugins.conflicts.Conflict`, listed by ``dnnc backends``):

* a built-in name (1 or 2 above) stays built-in; the other registrations are
  refused;
* otherwise the name is ambiguous: no plugin gets it, and any use of it (a
  ``--backend``, a spec table's ``type``) fails with a message naming every
  plugin that registers it, by distribution and entry point.  This rule does
  not depend on the load order, so nobody silently gets one plugin or the other.

A plugin returning one name twice keeps the first and is reported in
:attr:`Registry.failures`; so is a second entry point with a name already
loaded (the first in the order above is loaded), a plugin that fails to import,
and a hook that raises.  None of these stops the other plugins.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pluggy

from . import builtin, hookspecs
from .conflicts import BUILTIN_DISTRIBUTION, BUILTIN_PLUGIN, Conflict, PluginInfo, refusing_model
from .vocabulary import CallbackType, DatasetType, LayerType

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from ..compiler.ops import OpDef

ENTRY_POINT_GROUP = "dnnc"

#: hook → what its items are called in messages, in the order the hooks are collected
KINDS = {
    "dnnc_layer_types": "layer type",
    "dnnc_dataset_types": "dataset type",
    "dnnc_callback_types": "callback type",
    "dnnc_backends": "backend",
}


#: hook → names no plugin may register: `repeat` is the spec's repeat block (dnnc.spec_schema.repeat)
RESERVED_NAMES = {"dnnc_layer_types": ("repeat",)}


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
    #: hook name + registered name → the name of the plugin that registered it
    origins: dict[str, str] = field(default_factory=dict)
    #: plugin name → where it comes from, in load order
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    #: names registered by more than one plugin, in collection order
    conflicts: list[Conflict] = field(default_factory=list)
    _refusing_models: dict[str, tuple[type, ...]] = field(default_factory=dict, repr=False, compare=False)

    def conflict(self, kind: str, name: str) -> Conflict | None:
        """The conflict over `name` among the `kind` registrations (see :data:`KINDS`), if any."""
        return next((c for c in self.conflicts if c.kind == kind and c.name == name), None)

    def origin(self, hook_name: str, name: str) -> PluginInfo | None:
        """The plugin that registered `name` through `hook_name`."""
        plugin = self.origins.get(hook_name + name)
        return None if plugin is None else self.plugins.get(plugin)

    def _with_refusing_models(self, kind: str, types: dict[str, Any]) -> tuple[type, ...]:
        """The spec models of `types`, plus one refusing model per ambiguous `kind` name (built once)."""
        if kind not in self._refusing_models:
            from ..spec_schema.base import StrictModel

            self._refusing_models[kind] = tuple(refusing_model(c, StrictModel)
                                                for c in self.conflicts if c.kind == kind and c.ambiguous)
        return tuple(t.spec_model for t in types.values()) + self._refusing_models[kind]

    def spec_model(self):
        """The Pydantic model of a spec for this vocabulary.

        An ambiguous type name validates to an error naming the plugins that register it.
        """
        from ..spec_schema.spec import build_spec_model

        return build_spec_model(
            self._with_refusing_models("layer type", self.layers),
            self._with_refusing_models("dataset type", self.datasets),
            self._with_refusing_models("callback type", self.callbacks),
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
        conflict = self.conflict("backend", name)
        if conflict is not None:
            raise BackendError(conflict.render())
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


def canonical_name(distribution: str) -> str:
    """A distribution name compared as pip compares them: ``My_Dist.x`` → ``my-dist-x``."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _ordered(entry_points: Iterable[Any]) -> list[tuple[Any, str]]:
    """(entry point, its distribution's name) in load order; each distribution's metadata is read once."""
    names: dict[int, str] = {}
    pairs = []
    for ep in entry_points:
        dist = getattr(ep, "dist", None)
        if dist is not None and id(dist) not in names:
            names[id(dist)] = getattr(dist, "name", None) or ""
        pairs.append((ep, names[id(dist)] if dist is not None else ""))

    def key(pair: tuple[Any, str]) -> tuple:
        ep, dist = pair
        return (canonical_name(dist) != BUILTIN_DISTRIBUTION, canonical_name(dist), ep.name, ep.value)

    return sorted(pairs, key=key)


def load_order(entry_points: Iterable[Any]) -> list[Any]:
    """The entry points in load order: dnnc's own first (by name), then the others by
    distribution, entry-point name and value (entry points without a distribution sort as "")."""
    return [ep for ep, _ in _ordered(entry_points)]


def _load(pm: pluggy.PluginManager, registry: Registry, entry_points: Iterable[Any]) -> list[tuple[PluginInfo, Any]]:
    """Register the built-in vocabulary and each entry point in load order; the loaded (info, plugin) pairs."""
    info = PluginInfo(BUILTIN_PLUGIN, builtin.__name__, BUILTIN_DISTRIBUTION, builtin=True)
    pm.register(builtin, name=BUILTIN_PLUGIN)
    registry.plugins[BUILTIN_PLUGIN] = info
    loaded = [(info, builtin)]
    for ep, dist in _ordered(entry_points):
        info = PluginInfo(ep.name, ep.value, dist, builtin=canonical_name(dist) == BUILTIN_DISTRIBUTION)
        other = registry.plugins.get(ep.name)
        if other is not None:
            registry.failures.append(PluginFailure(
                ep.name, f"{info.describe()} is not loaded: {other.describe()} already has this plugin name"))
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            registry.failures.append(PluginFailure(ep.name,
                                                   f"{info.describe()} could not be loaded: {_error_text(exc)}"))
            continue
        twin = pm.get_name(plugin)
        if twin is not None:
            registry.failures.append(PluginFailure(ep.name, f"{info.describe()} is not loaded again: "
                                                            f"{registry.plugins[twin].describe()} loaded the same module"))
            continue
        pm.register(plugin, name=ep.name)
        registry.plugins[ep.name] = info
        loaded.append((info, plugin))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        registry.failures.append(PluginFailure(getattr(exc, "plugin_name", "?") or "?", str(exc)))
    return loaded


def _collect(loaded: list[tuple[PluginInfo, Any]], hook_name: str, registry: Registry, sink: dict,
             key: Callable[[Any], str]) -> None:
    """Call one hook on each plugin separately (one failure does not hide the others), then give each
    name to its only plugin, to the built-in plugin that has it, or, when ambiguous, to none."""
    kind = KINDS[hook_name]
    claims: dict[str, list[tuple[PluginInfo, Any]]] = {}
    for info, plugin in loaded:
        impl = getattr(plugin, hook_name, None)
        if impl is None:
            continue
        try:
            items = list(impl() or [])
        except Exception as exc:  # a broken plugin must not break dnnc
            registry.failures.append(PluginFailure(info.name, f"{hook_name}() raised {_error_text(exc)}"))
            continue
        names: set[str] = set()
        for item in items:
            try:
                name = key(item)
            except Exception as exc:
                registry.failures.append(PluginFailure(info.name,
                                                       f"{hook_name}() returned an invalid item {item!r}: {exc}"))
                continue
            if name in RESERVED_NAMES.get(hook_name, ()):
                registry.failures.append(PluginFailure(info.name, f"{hook_name}() returns {kind} {name!r}, a name "
                                                                  "reserved by dnnc's spec format; it is refused"))
                continue
            if name in names:
                registry.failures.append(PluginFailure(info.name, f"{hook_name}() returns {kind} {name!r} twice; "
                                                                  "the first is kept"))
                continue
            names.add(name)
            claims.setdefault(name, []).append((info, item))
    for name, claimants in claims.items():
        if len(claimants) > 1:
            registry.conflicts.append(Conflict(kind, name, tuple(info for info, _ in claimants)))
        info, item = claimants[0]
        if len(claimants) == 1 or info.builtin:
            sink[name] = item
            registry.origins[hook_name + name] = info.name


def build_registry(entry_points: Iterable[Any] | None = None) -> Registry:
    """Load the built-in plugin and every entry point (or only those given), then collect registrations."""
    pm = pluggy.PluginManager("dnnc")
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    loaded = _load(pm, registry, entry_points)
    _collect(loaded, "dnnc_layer_types", registry, registry.layers, lambda t: t.name)
    _collect(loaded, "dnnc_dataset_types", registry, registry.datasets, lambda t: t.name)
    _collect(loaded, "dnnc_callback_types", registry, registry.callbacks, lambda t: t.name)
    _collect(loaded, "dnnc_backends", registry, registry.backends, lambda b: b.name)
    return registry


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    return build_registry()
