"""The bracket structure of spec text, for syntax errors a parser reports late or not at all.

``tomllib`` reports an array that is never closed where it gives up — often
lines later, at the next ``[table]`` header, which it reads as a nested
array — and both parsers give up with a ``RecursionError`` on brackets nested
thousands deep.  :func:`scan` walks the text once (skipping strings and
comments, and TOML table headers) and tells, at a given offset, which
brackets are still open, and how deep the brackets go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOML_HEADER = re.compile(r"[ \t]*\[\[?[^\[\]\n]*\]\]?[ \t]*(#[^\n]*)?$")


@dataclass(frozen=True)
class Brackets:
    """What :func:`scan` found: the offsets of the brackets open at ``stop`` (outermost first), the deepest
    nesting anywhere before ``stop``, and the offset of the outermost bracket of that deepest chain."""

    open_at_stop: tuple[int, ...]
    max_depth: int
    deepest_from: int | None


def scan(text: str, fmt: str, stop: int | None = None) -> Brackets:
    """Scan ``text`` (``"toml"`` or ``"json"``) up to offset ``stop`` (default: the end)."""
    end = len(text) if stop is None else min(stop, len(text))
    stack: list[int] = []
    max_depth, deepest_from = 0, None
    toml = fmt == "toml"
    i = 0
    line_start = True  # only blanks since the last newline (TOML: where a table header may begin)
    while i < end:
        char = text[i]
        if char == "\n":
            line_start = True
            i += 1
            continue
        if char in " \t\r":
            i += 1
            continue
        at_line_start, line_start = line_start, False
        if toml and char == "#":
            i = _line_end(text, i)
        elif char == '"' or (toml and char == "'"):
            i = _string_end(text, i, toml)
        elif toml and char == "[" and at_line_start and not stack:
            i = _line_end(text, i)  # a table header: keys, not nesting
        elif char in "[{":
            stack.append(i)
            if len(stack) > max_depth:
                max_depth, deepest_from = len(stack), stack[0]
            i += 1
        elif char in "]}":
            if stack:
                stack.pop()
            i += 1
        else:
            i += 1
    return Brackets(tuple(stack), max_depth, deepest_from)


def looks_like_table_header(text: str, line: int) -> bool:
    """Is the 1-based ``line`` of ``text`` a TOML table header such as ``[training]``?"""
    lines = text.split("\n")
    return 1 <= line <= len(lines) and bool(_TOML_HEADER.match(lines[line - 1]))


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def offset_of(text: str, line: int, column: int) -> int:
    """The offset of 1-based (line, column), clamped to the text."""
    start = 0
    for _ in range(line - 1):
        nxt = text.find("\n", start)
        if nxt < 0:
            return len(text)
        start = nxt + 1
    return min(start + max(column - 1, 0), len(text))


def _line_end(text: str, i: int) -> int:
    nxt = text.find("\n", i)
    return len(text) if nxt < 0 else nxt


def _string_end(text: str, i: int, toml: bool) -> int:
    """The offset just after the string starting at ``i`` (or the end of its line if it is never closed)."""
    quote = text[i]
    escapes = quote == '"'
    if toml and text.startswith(quote * 3, i):
        close = text.find(quote * 3, i + 3)
        while escapes and close > 0 and _escaped(text, close):
            close = text.find(quote * 3, close + 1)
        return len(text) if close < 0 else close + 3
    j = i + 1
    while j < len(text):
        char = text[j]
        if escapes and char == "\\":
            j += 2
            continue
        if char == quote:
            return j + 1
        if char == "\n" and toml:
            return j
        j += 1
    return len(text)


def _escaped(text: str, i: int) -> bool:
    backslashes = 0
    while i - backslashes - 1 >= 0 and text[i - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
