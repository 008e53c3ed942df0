"""``--set key=value``: change the parsed spec before it is validated.

``key`` is a dotted path with list indices, as the error messages print them:
``training.optimizer.learning_rate``, ``model.layers[2].units``,
``data.dataset.repeat``.  ``value`` is parsed as a TOML value (``0.01``, ``3``,
``true``, ``"adam"``, ``[64, 32]``, ``{ type = "sgd", momentum = 0.9 }``); a bare
word that is not TOML (``adam``) is taken as a string.  Missing tables are
created; a string shorthand on the way (``optimizer = "adam"``) becomes
``{ type = "adam" }`` so its fields can be set.  List indices must exist.

Because overrides are applied to the parsed data, they are validated with the
rest of the spec; problems in an overridden value are reported against the
``--set`` argument rather than a line of the file.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import replace
from typing import Any, Iterable

from ..compiler.errors import Loc, SpecError, SpecIssue, format_path

_SEGMENT = re.compile(r"""\s*(?:"([^"]*)"|([A-Za-z0-9_\-]+))((?:\[\s*-?\d+\s*\])*)\s*""")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")


def _issue(text: str, message: str, path: Loc = (), **extra) -> SpecError:
    return SpecError([SpecIssue(path=path, message=message, file=f"--set {text}", kind="override", **extra)])


def parse_key(key: str, text: str | None = None) -> Loc:
    """``model.layers[2].units`` → ``("model", "layers", 2, "units")``."""
    text = text or key
    parts: list[str | int] = []
    pos = 0
    while True:
        m = _SEGMENT.match(key, pos)
        if not m or m.end() == pos:
            raise _issue(text, f"cannot read the key {key!r}", received=key,
                         allowed="a dotted path such as training.optimizer.learning_rate or model.layers[2].units")
        parts.append(m.group(1) if m.group(1) is not None else m.group(2))
        parts.extend(int(i) for i in _INDEX.findall(m.group(3)))
        pos = m.end()
        if pos == len(key):
            return tuple(parts)
        if key[pos] != ".":
            raise _issue(text, f"cannot read the key {key!r} at position {pos + 1}", received=key)
        pos += 1


def parse_value(value: str, text: str | None = None) -> Any:
    """A TOML value; a bare word that is not TOML is a string."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-.]*", value.strip()):
            return value.strip()
        raise _issue(text or value, f"the value {value!r} is not a TOML value ({exc})", received=value,
                     allowed='a number, true/false, a "string", an [array] or an { inline = "table" }') from None


def parse_override(text: str) -> tuple[Loc, Any]:
    """``"key=value"`` → (path, value)."""
    if "=" not in text:
        raise _issue(text, "an override must look like key=value", received=text,
                     allowed="e.g. training.epochs=3 or model.layers[2].units=64")
    key, value = text.split("=", 1)
    if not key.strip():
        raise _issue(text, "the key before '=' is empty", received=text)
    return parse_key(key.strip(), text), parse_value(value, text)


def set_path(data: dict, path: Loc, value: Any, text: str) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        nxt = path[depth + 1]
        here = format_path(path[: depth + 1])
        if isinstance(part, int):
            if not isinstance(node, list):
                raise _issue(text, f"{format_path(path[:depth]) or 'the spec'} is not an array, so [{part}] cannot be used",
                             path=path[:depth])
            if not -len(node) <= part < len(node):
                raise _issue(text, f"index [{part}] is out of range: {format_path(path[:depth])} has {len(node)} element(s)",
                             path=path[:depth])
            child = node[part]
        else:
            if not isinstance(node, dict):
                raise _issue(text, f"{format_path(path[:depth]) or 'the spec'} is not a table, so .{part} cannot be used",
                             path=path[:depth])
            child = node.get(part)
            if child is None:
                child = [] if isinstance(nxt, int) else {}
                node[part] = child
        if isinstance(child, str) and isinstance(nxt, str):
            child = {"type": child}  # the shorthand "adam" == { type = "adam" }
            node[part] = child
        if isinstance(nxt, int) and not isinstance(child, list):
            raise _issue(text, f"{here} is not an array, so [{nxt}] cannot be used", path=path[: depth + 1])
        node = child
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or not -len(node) <= last < len(node):
            size = len(node) if isinstance(node, list) else 0
            raise _issue(text, f"index [{last}] is out of range: {format_path(path[:-1])} has {size} element(s)",
                         path=path[:-1])
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise _issue(text, f"{format_path(path[:-1]) or 'the spec'} is not a table, so .{last} cannot be set",
                         path=path[:-1])
        node[last] = value


def apply_overrides(data: dict, overrides: Iterable[str]) -> tuple[dict, list[tuple[Loc, str]]]:
    """A deep copy of ``data`` with every override applied in order; also (path, text) of each."""
    out = copy.deepcopy(data)
    applied = []
    for text in overrides:
        path, value = parse_override(text)
        set_path(out, path, value, text)
        applied.append((path, text))
    return out, applied


def attribute_issues(error: SpecError, applied: list[tuple[Loc, str]]) -> SpecError:
    """Report issues inside an overridden value against its ``--set`` argument (the last matching one)."""
    if not applied:
        return error
    issues = []
    for issue in error.issues:
        owner = None
        for path, text in applied:
            if tuple(issue.path[: len(path)]) == tuple(path):
                owner = text
        issues.append(replace(issue, file=f"--set {owner}", line=None, column=None) if owner else issue)
    return SpecError(issues)
