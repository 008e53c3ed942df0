"""Helpers for error messages: "did you mean ...?" and lists of allowed names."""

from __future__ import annotations

import difflib
import re
from typing import Iterable

#: Minimum difflib similarity ratio for a suggestion.
CUTOFF = 0.6

_SEPARATORS = re.compile(r"[\s_\-]+")


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word``, or None if none is close enough.

    A choice equal to ``word`` apart from case (then apart from ``_``, ``-``
    and spaces: ``BatchNorm`` -> ``batch_norm``) wins outright; otherwise the
    best difflib match with a ratio of at least :data:`CUTOFF`.  A choice
    identical to ``word`` is never suggested.
    """
    options = sorted({c for c in choices if isinstance(c, str) and c != word})
    if not options or not isinstance(word, str):
        return None
    for normalise in (str.casefold, _squash):
        target = normalise(word)
        same = [c for c in options if normalise(c) == target]
        if same:
            return same[0]
    folded: dict[str, str] = {}
    for c in options:
        folded.setdefault(c.casefold(), c)
    match = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=CUTOFF)
    return folded[match[0]] if match else None


def format_choices(choices: Iterable[object], limit: int = 12) -> str:
    """Render choices as ``'a', 'b', 'c'``: sorted, unique, at most ``limit`` shown.

    Strings are quoted, numbers are not (``1, 2, 10``); beyond ``limit`` the
    list ends with ``… (N more)``.
    """
    items = sorted(set(choices), key=_sort_key)
    shown = ", ".join(f"'{c}'" if isinstance(c, str) else str(c) for c in items[:limit])
    rest = len(items) - limit
    if rest > 0:
        shown += f", … ({rest} more)"
    return shown


def _sort_key(choice: object) -> tuple[int, float, str]:
    if isinstance(choice, (int, float)) and not isinstance(choice, bool):
        return (0, float(choice), "")
    return (1, 0.0, str(choice))


def _squash(name: str) -> str:
    return _SEPARATORS.sub("", name.casefold())
