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

from dnnc.compiler import brackets
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
    except RecursionError:
        raise SpecError([_too_deep(text, "toml", display)]) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None
        column: int | None
        m = _TOML_POS.search(message)
        at_end = m is None
        if m:
            line, column = int(m.group(1)), int(m.group(2))
            message = message[: m.start()]
        else:
            m = _TOML_END.search(message)
            if m:
                message = message[: m.start()]
            line, column = _end_position(text)
        issue = _unclosed_array(text, message, line, column, at_end, display)
        raise SpecError([issue or _syntax_issue(display, message, line, column)]) from None


def _unclosed_array(text: str, message: str, line: int, column: int, at_end: bool, display: str) -> SpecIssue | None:
    """An array never closed, reported at its ``[`` rather than where tomllib gave up: the end of the
    document, or the next ``[table]`` header (which tomllib reads as a nested array)."""
    stop = len(text) if at_end else brackets.offset_of(text, line, column)
    opened = brackets.scan(text, "toml", stop).open_at_stop
    if not opened or text[opened[0]] != "[":
        return None
    first_line, first_column = brackets.position(text, opened[0])
    if first_line >= line or not (at_end or brackets.looks_like_table_header(text, line)):
        return None
    where = "at the end of the file" if at_end else f"at line {line}, column {column}"
    return SpecIssue(path=(), message="this array is never closed: ']' is missing", file=display, line=first_line,
                     column=first_column, kind="syntax",
                     hint=f"the parser stopped {where} ({message.rstrip('.')})")


def _too_deep(text: str, fmt: Format, display: str) -> SpecIssue:
    found = brackets.scan(text, fmt)
    line, column = brackets.position(text, found.deepest_from) if found.deepest_from is not None else (1, 1)
    return _syntax_issue(display, f"arrays and tables are nested too deeply for the parser "
                                  f"({found.max_depth:,} levels from here)", line, column)


def _parse_json(text: str, display: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError([_syntax_issue(display, exc.msg, exc.lineno, exc.colno)]) from None
    except RecursionError:
        raise SpecError([_too_deep(text, "json", display)]) from None
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
