"""Plain values as TOML inline text: what a trial's ``--set path=value`` overrides hold.

``toml_value(v)`` is the exact inverse of :func:`dnnc.runner.overrides.parse_value`
for every value a spec can hold: ``tomllib.loads("v = " + toml_value(v))["v"] == v``
(floats are written with ``repr``, the shortest text that reads back to the same
double; NaN and the infinities as TOML's ``nan``/``inf``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_value(value: Any) -> str:
    """``value`` (bool, int, float, str, list, dict) as one line of TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's; TOML also forbids a raw DEL (U+007F)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(key: str) -> str:
    """A bare key when possible, else a quoted one."""
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)
