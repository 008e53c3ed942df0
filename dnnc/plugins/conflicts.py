"""Who registered what: plugins by distribution and entry point, and names two plugins register.

A :class:`Conflict` is a backend, layer, dataset or callback type name that
more than one plugin registers.  The rule that resolves it (see
:mod:`dnnc.plugins.manager`) does not depend on the order plugins are loaded:

* the name is built-in (dnnc's own vocabulary or backends): the built-in is
  kept and every other registration refused;
* otherwise the name is *ambiguous*: no plugin gets it, and any use of it fails
  with :meth:`Conflict.render`, which names every plugin involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: The distribution dnnc itself is installed as: its entry points are built-in.
BUILTIN_DISTRIBUTION = "dnnc"
#: The plugin name of dnnc's own vocabulary (dnnc.plugins.builtin), registered first.
BUILTIN_PLUGIN = "dnnc-builtin"


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its entry point and the distribution that declares it."""

    name: str
    """The entry point's name (the plugin's name in ``dnnc backends`` and in errors)."""
    value: str
    """What the entry point loads, e.g. ``"my_package.plugin"``."""
    distribution: str
    """The distribution's name as its metadata spells it ("" when the entry point has none)."""
    builtin: bool = False
    """Part of dnnc (its vocabulary, or an entry point of the ``dnnc`` distribution)."""

    def describe(self) -> str:
        """E.g. ``dist-a (entry point a = pkg_a.plugin)``."""
        if self.name == BUILTIN_PLUGIN:
            return f"{BUILTIN_DISTRIBUTION} (built-in vocabulary {self.value})"
        return f"{self.distribution or 'an unnamed distribution'} (entry point {self.name} = {self.value})"

    def to_dict(self) -> dict[str, Any]:
        return {"distribution": self.distribution, "entry_point": self.name, "value": self.value,
                "builtin": self.builtin}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


@dataclass(frozen=True)
class Conflict:
    """A name registered by more than one plugin."""

    kind: str
    """``"backend"``, ``"layer type"``, ``"dataset type"`` or ``"callback type"``."""
    name: str
    plugins: tuple[PluginInfo, ...]
    """Every plugin registering the name, in load order (a built-in one first)."""

    @property
    def kept(self) -> PluginInfo | None:
        """The built-in plugin that keeps the name, or None when the name is ambiguous."""
        return self.plugins[0] if self.plugins[0].builtin else None

    @property
    def ambiguous(self) -> bool:
        """No plugin gets the name: any use of it fails with :meth:`render`."""
        return self.kept is None

    def render(self) -> str:
        head = f"{self.kind} {self.name!r} is registered by {_join([p.describe() for p in self.plugins])}"
        if self.kept is not None:
            refused = _join([p.distribution or p.name for p in self.plugins[1:]])
            return f"{head}: dnnc keeps its built-in {self.kind} and refuses the registration by {refused}"
        return f"{head}: the name is ambiguous, so dnnc uses none of them (uninstall all but one to use it)"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "resolution": "ambiguous" if self.ambiguous else "built-in kept",
                "plugins": [p.to_dict() for p in self.plugins], "message": self.render()}


def refusing_model(conflict: Conflict, base: type) -> type:
    """A spec model for an ambiguous type name that accepts nothing: validating a table with this
    ``type`` fails with the conflict's message, at the table's place in the spec."""
    from pydantic import Field, create_model, model_validator  # only when there is a conflict

    message = conflict.render()

    def refuse(cls, data: Any) -> Any:
        raise ValueError(message)

    return create_model(
        f"Ambiguous{conflict.kind.title().replace(' ', '')}_{conflict.name}",
        __base__=base,
        __doc__=f"Unusable: {message}.",
        __validators__={"refuse_ambiguous_type": model_validator(mode="before")(classmethod(refuse))},
        type=(Literal[conflict.name], Field(description="An ambiguous type name (see the model's description).")),
    )
