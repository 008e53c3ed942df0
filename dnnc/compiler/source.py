"""Loading a spec file: text, format and parsed data, kept together.

A :class:`SpecSource` is what every later stage receives.  It keeps the raw
text so that errors found later (by the schema, by the lowering) can be
pointed at ``file:line:col`` with :func:`dnnc.compiler.locate.locate` (which
depends on this module, never the other way).

I/O problems, unknown suffixes and syntax errors are raised as
:class:`~dnnc.compiler.errors.SpecError` with one issue of kind ``"io"`` or
``"syntax"``; syntax issues carry the parser's line and column.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dnnc.compiler.errors import SpecError, SpecIssue

Format = Literal["toml", "json"]

#: File suffix -> format.  The order is the order shown in error messages.
SUFFIXES: dict[str, Format] = {".toml": "toml", ".json": "json"}

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


@dataclass(frozen=True)
class SpecSource:
    """A parsed spec together with the text it came from."""

    path: Path | None
    display_name: str
    text: str
    format: Format
    data: dict[str, Any] = field(repr=False)


def load_source(path: str | Path) -> SpecSource:
    """Read and parse a ``.toml`` or ``.json`` spec file."""
    display = str(path)
    p = Path(path)
    fmt = SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        allowed = ", ".join(f"'{s}'" for s in SUFFIXES)
        raise _io_error(
            display,
            f"cannot tell the spec format from the file name; use one of {allowed}",
            received=p.suffix or "(no suffix)",
            allowed=allowed,
        )
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise _io_error(display, "spec file not found", hint=f"looked for {p.absolute()}") from None
    except IsADirectoryError:
        raise _io_error(display, "spec path is a directory, not a file") from None
    except PermissionError:
        raise _io_error(display, "spec file is not readable (permission denied)") from None
    except OSError as exc:
        raise _io_error(display, f"cannot read spec file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _io_error(
            display,
            f"spec file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}, line {line})",
            hint="save the file as UTF-8",
        ) from None
    return parse_text(text, fmt, display_name=display, path=p)


def parse_text(
    text: str,
    format: Format,
    display_name: str = "<string>",
    *,
    path: Path | None = None,
) -> SpecSource:
    """Parse spec text given in ``format`` (``"toml"`` or ``"json"``)."""
    if format == "toml":
        data = _parse_toml(text, display_name)
    elif format == "json":
        data = _parse_json(text, display_name)
    else:
        allowed = ", ".join(f"'{f}'" for f in SUFFIXES.values())
        raise _io_error(display_name, "unknown spec format", received=format, allowed=allowed)
    return SpecSource(path=path, display_name=display_name, text=text, format=format, data=data)


def _parse_toml(text: str, display: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None
        column: int | None
        m = _TOML_POS.search(message)
        if m:
            line, column = int(m.group(1)), int(m.group(2))
            message = message[: m.start()]
        else:
            m = _TOML_END.search(message)
            if m:
                message = message[: m.start()]
            line, column = _end_position(text)
        raise SpecError([_syntax_issue(display, message, line, column)]) from None


def _parse_json(text: str, display: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError([_syntax_issue(display, exc.msg, exc.lineno, exc.colno)]) from None
    except RecursionError:
        raise SpecError([_syntax_issue(display, "nested too deeply", 1, 1)]) from None
    if not isinstance(data, dict):
        line, column = _first_token(text)
        raise SpecError(
            [
                SpecIssue(
                    path=(),
                    message="the top level of a spec must be an object",
                    received=f"a JSON {_json_kind(data)}",
                    allowed="an object { ... }",
                    file=display,
                    line=line,
                    column=column,
                    kind="syntax",
                )
            ]
        )
    return data


def _syntax_issue(display: str, message: str, line: int | None, column: int | None) -> SpecIssue:
    return SpecIssue(path=(), message=message, file=display, line=line, column=column, kind="syntax")


def _io_error(display: str, message: str, **extra: Any) -> SpecError:
    return SpecError([SpecIssue(path=(), message=message, file=display, kind="io", **extra)])


def _end_position(text: str) -> tuple[int, int]:
    """Just after the last non-blank character (where an editor shows 'end of document')."""
    body = text.rstrip()
    line = body.count("\n") + 1
    return line, len(body) - (body.rfind("\n") + 1) + 1


def _first_token(text: str) -> tuple[int, int]:
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
