"""User-facing spec errors: where, what was received, what is allowed.

Every problem found in a spec becomes one :class:`SpecIssue`; all issues of a
file are collected and raised together as one :class:`SpecError`.  The CLI
prints them one per line in the form::

    examples/mlp.toml:12:9 model.layers[2].units: must be > 0 (received -3)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

Loc = tuple[str | int, ...]


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(loc: Loc) -> str:
    """Render a location tuple as ``model.layers[2].units``.

    A key that is not a bare TOML key is quoted: ``search.space."model.layers[0].times"``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if not _BARE_KEY.fullmatch(text):
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out += f".{text}" if out else text
    return out


def short_repr(value: Any, limit: int = 60) -> str:
    """A compact rendering of a received value for error messages."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {short_repr(v, 20)}" for k, v in value.items()) + "}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
