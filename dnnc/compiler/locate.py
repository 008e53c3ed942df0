"""Where in the spec text is ``model.layers[2].units``?

``tomllib`` and ``json`` keep no positions, so this module scans the text a
second time (it is known to be valid: the parser accepted it) and records the
1-based (line, column) of every key and every array element:

* ``key = value`` and dotted keys ``a.b = 1``: the position of each key part;
* ``[table]`` and ``[[array.of.tables]]``: the position of the opening ``[``
  (the array itself maps to its first header, element *i* to its *i*-th);
* inline tables ``{ type = "dense", units = 3 }``, at any depth: their keys;
* arrays (one line or many, trailing comma, comments): each element's start;
* JSON: each object key's opening quote, each array element's start.

:func:`positions` gives that map for a :class:`~dnnc.compiler.source.SpecSource`
(computed once per text); :func:`locate` maps an error location (a pydantic
``loc`` tuple) to the deepest of those positions that exists: a missing key
resolves to its table.
"""

from __future__ import annotations

import bisect
import json
import re
import tomllib
from dataclasses import replace
from functools import lru_cache
from typing import Iterable

from dnnc.compiler.errors import Loc, SpecIssue
from dnnc.compiler.source import Format, SpecSource

Position = tuple[int, int]
PositionMap = dict[Loc, Position]


def locate(source: SpecSource, loc: Loc) -> Position | None:
    """1-based (line, column) of the key or element at ``loc``.

    Walks ``loc`` as deep as the text allows and returns the deepest position
    found: a missing key or an index past the end resolves to its table or
    array; the document itself is at (1, 1).  Parts that pydantic adds to a
    ``loc`` without being keys (a discriminated union's tag, which equals the
    table's ``type``; ``function-after[...]``-style validator names; model
    class names; ``int``/``str``-style union members) are skipped.
    """
    found_at = positions(source)
    current: Loc = ()
    best = found_at.get(())
    value: object = source.data
    for part in loc:
        for candidate in _spellings(part):
            path = current + (candidate,)
            found = found_at.get(path)
            if found is not None:
                current, best = path, found
                value = _child(value, candidate)
                break
        else:
            if not _is_tag(part, value):
                break
    return best


def locate_issues(source: SpecSource, issues: Iterable[SpecIssue]) -> list[SpecIssue]:
    """Fill ``file``, ``line`` and ``column`` of each issue that lacks them."""
    out = []
    for issue in issues:
        changes: dict[str, object] = {}
        if issue.file is None:
            changes["file"] = source.display_name
        if issue.line is None:
            pos = locate(source, issue.path)
            if pos is not None:
                changes["line"], changes["column"] = pos
        out.append(replace(issue, **changes) if changes else issue)
    return out


def positions(source: SpecSource) -> PositionMap:
    """Path -> 1-based (line, column) of every key and array element of ``source``.

    Scanned once per text and format (the last few are cached); do not modify the map.
    """
    return _scan(source.text, source.format)


@lru_cache(maxsize=16)
def _scan(text: str, format: Format) -> PositionMap:
    scanner: _Scanner = _TomlScanner(text) if format == "toml" else _JsonScanner(text)
    try:
        scanner.run()
    except (_ScanError, IndexError, ValueError, RecursionError, tomllib.TOMLDecodeError):
        pass  # text the parser accepted but we could not follow: keep what we have
    return scanner.result()


_PYDANTIC_TAGS = frozenset(
    {"int", "float", "str", "bool", "none", "bytes", "list", "dict", "tuple", "set", "any", "model", "literal"}
)


def _is_tag(part: str | int, value: object) -> bool:
    """Is ``part`` a non-key element of a pydantic ``loc`` at this ``value``?"""
    if not isinstance(part, str):
        return False
    if isinstance(value, dict) and value.get("type") == part:
        return True  # discriminated union: the tag is the table's type
    if isinstance(value, str) and value == part:
        return True  # the same, for the "adam" == { type = "adam" } shorthand
    return (
        "[" in part
        or "(" in part
        or part in _PYDANTIC_TAGS
        or (part[:1].isupper() and part.isidentifier())  # model class names
    )


def _child(value: object, part: str | int) -> object:
    try:
        return value[part]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None


def _spellings(part: str | int) -> tuple[str | int, ...]:
    if isinstance(part, int):
        return (part, str(part))
    if part.isascii() and part.isdigit():  # not int("³"): str.isdigit() also accepts other scripts' digits
        return (part, int(part))
    return (part,)


class _ScanError(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.i = 0
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.explicit: PositionMap = {}
        self.implicit: PositionMap = {}

    def run(self) -> None:
        raise NotImplementedError

    def result(self) -> PositionMap:
        out = dict(self.implicit)
        out.update(self.explicit)
        out.setdefault((), (1, 1))
        return out

    def pos(self, offset: int) -> Position:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def peek(self) -> str:
        return self.text[self.i] if self.i < self.n else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _ScanError(f"expected {char!r} at offset {self.i}")
        self.i += 1


# --------------------------------------------------------------------- TOML

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INLINE_WS = re.compile(r"[ \t]*")
_WS_NL_COMMENTS = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_SCALAR = re.compile(r"[^,\]}\n#]*")


class _TomlScanner(_Scanner):
    def run(self) -> None:
        table: Loc = ()
        aot_sizes: dict[Loc, int] = {}
        text = self.text
        while True:
            self.skip_blank()
            if self.i >= self.n:
                return
            if text[self.i] == "[":
                start = self.i
                is_aot = text.startswith("[[", start)
                self.i += 2 if is_aot else 1
                keys = self.key()
                self.skip_ws()
                self.expect("]")
                if is_aot:
                    self.expect("]")
                table = self.header(keys, is_aot, self.pos(start), aot_sizes)
            else:
                self.keyval(table)

    def header(self, keys: list[tuple[str, int]], is_aot: bool, at: Position, aot_sizes: dict[Loc, int]) -> Loc:
        path: Loc = ()
        for n, (name, _) in enumerate(keys):
            path += (name,)
            if n < len(keys) - 1:
                self.implicit.setdefault(path, at)
                if path in aot_sizes:  # [[a]] ... [a.b]: b belongs to the last element of a
                    path += (aot_sizes[path] - 1,)
                    self.implicit.setdefault(path, at)
            elif is_aot:
                index = aot_sizes.get(path, 0)
                aot_sizes[path] = index + 1
                self.explicit.setdefault(path, at)
                path += (index,)
                self.explicit[path] = at
            else:
                self.explicit[path] = at
        return path

    def keyval(self, table: Loc) -> Loc:
        keys = self.key()
        self.skip_ws()
        self.expect("=")
        self.skip_ws()
        path = table
        for name, offset in keys:
            path += (name,)
            self.explicit.setdefault(path, self.pos(offset))
        self.value(path)
        return path

    def key(self) -> list[tuple[str, int]]:
        """A dotted key: [(name, offset of the part), ...]."""
        parts = []
        while True:
            self.skip_ws()
            start = self.i
            char = self.peek()
            if char in ('"', "'"):
                self.string()
                raw = self.text[start : self.i]
                if char == "'" or "\\" not in raw:
                    name = raw[1:-1]
                else:
                    name = tomllib.loads("k = " + raw)["k"]
            else:
                m = _BARE_KEY.match(self.text, start)
                if not m:
                    raise _ScanError(f"expected a key at offset {start}")
                name = m.group()
                self.i = m.end()
            parts.append((name, start))
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.i += 1

    def value(self, path: Loc) -> None:
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            m = _SCALAR.match(self.text, self.i)
            assert m is not None
            if m.end() == self.i:
                raise _ScanError(f"expected a value at offset {self.i}")
            self.i = m.end()

    def array(self, path: Loc) -> None:
        self.expect("[")
        index = 0
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.i += 1
                return
            element = path + (index,)
            self.explicit[element] = self.pos(self.i)
            self.value(element)
            index += 1
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "]":
                raise _ScanError(f"expected ',' or ']' at offset {self.i}")

    def inline_table(self, path: Loc) -> None:
        self.expect("{")
        while True:
            self.skip_blank()
            if self.peek() == "}":
                self.i += 1
                return
            self.keyval(path)
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "}":
                raise _ScanError(f"expected ',' or '}}' at offset {self.i}")

    def string(self) -> None:
        """Skip a basic, literal or multi-line string starting at ``self.i``."""
        text, quote = self.text, self.text[self.i]
        escapes = quote == '"'
        if text.startswith(quote * 3, self.i):
            i = self.i + 3
            while True:
                char = text[i]
                if escapes and char == "\\":
                    i += 2
                elif char == quote and text.startswith(quote * 3, i):
                    run = 3  # up to two quotes may end the content: """a""""" is 'a""'
                    while run < 5 and i + run < self.n and text[i + run] == quote:
                        run += 1
                    self.i = i + run
                    return
                else:
                    i += 1
        i = self.i + 1
        while True:
            char = text[i]
            if escapes and char == "\\":
                i += 2
            elif char == quote:
                self.i = i + 1
                return
            elif char == "\n":
                raise _ScanError(f"unterminated string at offset {self.i}")
            else:
                i += 1

    def skip_ws(self) -> None:
        self.i = _INLINE_WS.match(self.text, self.i).end()  # type: ignore[union-attr]

    def skip_blank(self) -> None:
        self.i = _WS_NL_COMMENTS.match(self.text, self.i).end()  # type: ignore[union-attr]


# --------------------------------------------------------------------- JSON

_JSON_WS = re.compile(r"[ \t\r\n]*")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_SCALAR = re.compile(r"[^,\]}\s]+")


class _JsonScanner(_Scanner):
    def run(self) -> None:
        self.skip_ws()
        self.explicit[()] = self.pos(self.i)
        self.value(())

    def value(self, path: Loc) -> None:
        char = self.peek()
        if char == "{":
            self.obj(path)
        elif char == "[":
            self.array(path)
        elif char == '"':
            self.string()
        else:
            m = _JSON_SCALAR.match(self.text, self.i)
            if not m:
                raise _ScanError(f"expected a value at offset {self.i}")
            self.i = m.end()

    def obj(self, path: Loc) -> None:
        self.expect("{")
        while True:
            self.skip_ws()
            if self.peek() == "}":
                self.i += 1
                return
            start = self.i
            name = json.loads(self.string())
            child = path + (name,)
            self.explicit[child] = self.pos(start)  # json.loads keeps the last duplicate
            self.skip_ws()
            self.expect(":")
            self.skip_ws()
            self.value(child)
            self.skip_ws()
            if self.peek() == ",":
                self.i += 1

    def array(self, path: Loc) -> None:
        self.expect("[")
        index = 0
        while True:
            self.skip_ws()
            if self.peek() == "]":
                self.i += 1
                return
            element = path + (index,)
            self.explicit[element] = self.pos(self.i)
            self.value(element)
            index += 1
            self.skip_ws()
            if self.peek() == ",":
                self.i += 1

    def string(self) -> str:
        m = _JSON_STRING.match(self.text, self.i)
        if not m:
            raise _ScanError(f"expected a string at offset {self.i}")
        self.i = m.end()
        return m.group()

    def skip_ws(self) -> None:
        self.i = _JSON_WS.match(self.text, self.i).end()  # type: ignore[union-attr]
