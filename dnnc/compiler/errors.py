"""User-facing spec errors: where, what was received, what is allowed.

Every problem found in a spec becomes one :class:`SpecIssue`; all issues of a
file are collected and raised together as one :class:`SpecError`.  The CLI
prints them one per line in the form::

    examples/mlp.toml:12:9 model.layers[2].units: must be > 0 (received -3)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

Loc = tuple[str | int, ...]


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_path(loc: Loc) -> str:
    """Render a location tuple as ``model.layers[2].units`` (other keys quoted: ``training.class_weight."-1"``)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _PLAIN_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out += f".{key}" if out else key
    return out


def short_repr(value: Any, limit: int = 60) -> str:
    """A compact rendering of a received value for error messages, in the spec's own syntax:
    ``true``/``false``, ``null``, ``[1, 2]``, ``{units = 3}``; at most ``limit`` characters."""
    parts: list[str] = []
    _render(value, parts, limit + 1)
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render(value: Any, out: list[str], budget: int) -> int:
    """Append the rendering of ``value`` to ``out``, stopping once ``budget`` characters are written
    (so that a value nested thousands deep costs no more than its first characters)."""
    if budget <= 0:
        return 0
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (list, tuple, dict)):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        out.append(opening)
        used = 1
        for n, item in enumerate(items):
            if used >= budget:
                return used
            if n:
                out.append(", ")
                used += 2
            if isinstance(value, dict):
                key = f"{item[0]} = "
                out.append(key)
                used += len(key) + _render(item[1], out, budget - used - len(key))
            else:
                used += _render(item, out, budget - used)
        out.append(closing)
        return used + 1
    else:
        text = repr(value)
    out.append(text[:budget])
    return min(len(text), budget)


_MISSING = object()


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec file."""

    path: Loc
    message: str
    received: Any = _MISSING
    allowed: str | None = None
    hint: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    kind: str = "invalid"

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    @property
    def has_received(self) -> bool:
        return self.received is not _MISSING

    def render(self) -> str:
        """The one-line form printed by the CLI."""
        head = " ".join(p for p in (self.where, format_path(self.path) + ":" if self.path else "") if p)
        details = []
        if self.has_received:
            details.append(f"received {short_repr(self.received)}")
        if self.allowed:
            details.append(f"allowed {self.allowed}")
        text = f"{head} {self.message}"
        if details:
            text += f" ({'; '.join(details)})"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": format_path(self.path),
            "message": self.message,
            "received": short_repr(self.received) if self.has_received else None,
            "allowed": self.allowed,
            "hint": self.hint,
            "kind": self.kind,
        }


@dataclass
class SpecError(Exception):
    """Raised by the Python API for an invalid spec; carries every issue found."""

    issues: Sequence[SpecIssue] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        n = len(self.issues)
        head = f"{n} error{'s' if n != 1 else ''} in spec"
        return head + ":\n" + "\n".join("  " + i.render() for i in self.issues)
