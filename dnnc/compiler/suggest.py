"""Helpers for error messages: "did you mean ...?" and lists of allowed names."""

from __future__ import annotations

import difflib
import re
from typing import Iterable

#: Minimum difflib similarity ratio for a suggestion.
CUTOFF = 0.6
#: Edits (insertions, deletions, substitutions, swaps) within which a suggestion counts as a typo.
TYPO_EDITS = 2

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
    target = word.casefold()
    matches = difflib.get_close_matches(target, list(folded), n=len(folded), cutoff=CUTOFF)
    if not matches:
        return None
    # a near typo (at most TYPO_EDITS edits) beats difflib's ranking, the fewest edits first: 'adma' is one swap
    # from 'adam' but two insertions from 'adamax', which difflib ranks higher
    typos = [(d, n) for n, m in enumerate(matches) if (d := edit_distance(target, m)) <= TYPO_EDITS]
    return folded[matches[min(typos)[1]]] if typos else folded[matches[0]]


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of adjacent characters."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


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
