"""Writing Python source that is already formatted (black / ruff-format style, 88 columns).

The ejected modules are generated line by line; :func:`call` lays out one call
the way ``ruff format`` does (on one line when it fits, else its arguments on
one indented line, else one argument per line with a trailing comma), so the
generated file is a fixed point of ``ruff format`` (checked by the golden-file
tests) without dnnc needing a formatter at run time.
"""

from __future__ import annotations

import builtins
import json
import keyword
import math
import re
from typing import Any, Iterable, Sequence

LINE_LENGTH = 88
INDENT = "    "


def py(value: Any) -> str:
    """A Python literal for a plain value (None, bool, int, float, str, tuple, list, dict)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f'float("{value}")'
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        inner = ", ".join(py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(py(v) for v in sorted(value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def kw(**values: Any) -> list[str]:
    """Keyword arguments ``name=<literal>`` in the given order."""
    return [f"{k}={py(v)}" for k, v in values.items()]


def identifier(name: str, taken: set[str] | None = None) -> str:
    """A Python identifier for an IR name: invalid characters become ``_``; keywords and builtins get a
    trailing ``_``; unique within `taken` (which is updated)."""
    base = re.sub(r"\W", "_", name) or "node"
    if base[0].isdigit():
        base = "n_" + base
    if keyword.iskeyword(base) or hasattr(builtins, base):
        base += "_"
    if taken is None:
        return base
    candidate, i = base, 2
    while candidate in taken:
        candidate, i = f"{base}_{i}", i + 1
    taken.add(candidate)
    return candidate


def call(head: str, args: Sequence[str], indent: int = 0, *, close: str = ")", open_: str = "(") -> list[str]:
    """``head(args…)`` laid out as ruff format lays out a call; `head` includes what precedes the
    bracket (``x = nn.Linear``).  `indent` is the nesting level of the first line."""
    pad = INDENT * indent
    one = f"{pad}{head}{open_}{', '.join(args)}{close}"
    if len(one) <= LINE_LENGTH and "\n" not in one:
        return [one]
    inner = INDENT * (indent + 1)
    joined = f"{inner}{', '.join(args)}"
    if len(joined) <= LINE_LENGTH and not any("\n" in a for a in args):
        return [f"{pad}{head}{open_}", joined, f"{pad}{close}"]
    lines = [f"{pad}{head}{open_}"]
    for a in args:
        lines.extend(_argument(a, indent + 1))
    lines.append(f"{pad}{close}")
    return lines


def statement(text: str, indent: int) -> list[str]:
    """One statement (or ``#`` comment) at `indent`, a long ``name = f(args)`` / ``f(args)`` / ``return f(args)``
    split as :func:`call` splits it; lines already indented are kept as they are."""
    if text.startswith(" ") or not text:
        return [text]
    if text.startswith("#"):
        return comment(text[1:].strip(), indent)
    one = INDENT * indent + text
    if len(one) <= LINE_LENGTH:
        return [one]
    match = re.fullmatch(r"((?:[\w.]+ = |return |raise )?[\w.]+)\((.*)\)", text)
    if match is None:
        return [one]
    return call(match.group(1), split_args(match.group(2)), indent)


def statements(lines: Iterable[str], indent: int) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(statement(line, indent))
    return out


def _argument(arg: str, indent: int) -> list[str]:
    """One argument of an exploded call, with its trailing comma (nested calls split again)."""
    pad = INDENT * indent
    if len(pad) + len(arg) + 1 <= LINE_LENGTH:
        return [f"{pad}{arg},"]
    match = re.fullmatch(r"((?:\"[^\"]*\": )?[\w.=]+)\((.*)\)", arg)
    if match is None:
        return [f"{pad}{arg},"]
    lines = call(match.group(1), split_args(match.group(2)), indent)
    lines[-1] += ","
    return lines


def split_args(text: str) -> list[str]:
    """Split ``a, f(b, c), [d, e]`` at its top-level commas."""
    parts, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def comment(text: str, indent: int = 0) -> list[str]:
    """A comment, wrapped at 88 columns."""
    pad = INDENT * indent + "# "
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(pad) + len(line) + 1 + len(w) > LINE_LENGTH:
            lines.append(pad + line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    if line:
        lines.append(pad + line)
    return lines


def docstring(text: str, indent: int = 0) -> list[str]:
    """A docstring wrapped at 88 columns: ``\"\"\"text\"\"\"`` when it fits on one line, else the closing
    quotes on a line of their own; paragraphs are separated by blank lines."""
    pad = INDENT * indent
    paragraphs = [p.strip() for p in text.strip().split("\n\n")]
    if len(paragraphs) == 1 and "\n" not in paragraphs[0] and len(pad) + len(paragraphs[0]) + 6 <= LINE_LENGTH:
        return [f'{pad}"""{paragraphs[0]}"""']
    body: list[str] = []
    for i, p in enumerate(paragraphs):
        if i:
            body.append("")
        for raw in p.split("\n"):
            body.extend(_wrap(raw, pad, first=not body))
    body[0] = pad + '"""' + body[0][len(pad):]
    if len(body) == 1:  # ruff keeps a one-line docstring on one line, whatever its length
        return [body[0] + '"""']
    return body + [f'{pad}"""']


def _wrap(text: str, pad: str, first: bool = False) -> list[str]:
    """Wrap one line of text at 88 columns (the first line of a docstring leaves room for the quotes)."""
    room = 3 if first else 0
    if text.startswith("    ") or len(pad) + room + len(text) <= LINE_LENGTH:  # preformatted or short
        return [(pad + text).rstrip()]
    lead = re.match(r"\s*(?:[-*] )?", text).group(0)
    rest = " " * len(lead)
    words, lines, line = text[len(lead):].split(), [], lead
    for w in words:
        limit = LINE_LENGTH - (room if not lines else 0)
        if line.strip() and len(pad) + len(line) + 1 + len(w) > limit:
            lines.append(pad + line)
            line = rest + w
        else:
            line = f"{line} {w}" if line.strip() else line + w
    lines.append(pad + line)
    return lines


def block(lines: Iterable[str], indent: int) -> list[str]:
    """Re-indent a block of source lines by `indent` levels (blank lines stay empty)."""
    pad = INDENT * indent
    return [(pad + line) if line else "" for line in lines]


def dedent_source(text: str) -> list[str]:
    """A triple-quoted source template as lines: the common indentation and the surrounding blank lines
    removed."""
    lines = text.strip("\n").split("\n")
    widths = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(widths) if widths else 0
    return [line[cut:].rstrip() for line in lines]


def join_sections(sections: Iterable[Sequence[str]], blank: int = 2) -> list[str]:
    """Sections (top-level statements) separated by `blank` empty lines."""
    out: list[str] = []
    for section in sections:
        if not section:
            continue
        if out:
            out.extend([""] * blank)
        out.extend(section)
    return out
