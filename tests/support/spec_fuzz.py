"""Mutated specs for property-based tests: the examples, changed by keys, values, types, structure and text.

A mutation starts from one of the example specs (examples/*.toml, also as JSON) and applies one to
four random edits, either to the parsed data (then compiled as a dict, as JSON text and as TOML text)
or to the file's text (then parsed and compiled as the file's own format).  The one property:
compiling gives a ModelIR or raises dnnc's SpecError — nothing else, and every issue is located.

Used by tests/compiler/test_fuzz_specs.py (a bounded run in CI) and scripts/fuzz_specs.py (as long
as you like).
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from dnnc.tune.toml_values import toml_value

from .paths import example_specs

EXAMPLES: list[tuple[str, str, dict]] = [(p.name, p.read_text(), tomllib.loads(p.read_text())) for p in example_specs()]

#: Words that mean something in a spec: keys, type names, dataset names.  Mutations reuse them so that
#: they reach deep into validation and lowering instead of stopping at "unknown key".
VOCABULARY = [
    "type", "units", "activation", "layers", "inputs", "outputs", "input_shape", "name", "shape", "axis", "rate",
    "loss", "metrics", "optimizer", "learning_rate", "batch_size", "epochs", "seed", "callbacks", "dataset",
    "divide_by", "validation", "validation_split", "test_split", "labels", "num_classes", "features", "targets",
    "class_weight", "loss_weights", "kernel_init", "bias_init", "kernel_regularizer", "defaults", "batch_norm",
    "dense", "flatten", "reshape", "dropout", "concatenate", "add", "subtract", "maxout", "relu", "softmax",
    "sigmoid", "mse", "sparse_categorical_crossentropy", "binary_crossentropy", "adam", "sgd", "exponential_decay",
    "mnist", "fashion_mnist", "xor", "npz", "csv", "accuracy", "early_stopping", "model_checkpoint", "glorot_uniform",
    "constant", "l1_l2", "pieces", "momentum", "epsilon", "first", "last", "random", "path", "spec_version",
    "strict_parity", "conformance", "monitor", "patience", "input", "dense_1", "³", "١", "", " ", "type.x",
]

_INTS = st.one_of(st.integers(-3, 70), st.sampled_from([0, 1, -1, 2**31, 2**63, 2**64 + 1, 10**23, -(10**30)]),
                  st.integers())
_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e-320, 1e300, 3.5e38, float("inf"), float("nan")]))
_TEXT = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=12))
SCALARS = st.one_of(st.none(), st.booleans(), _INTS, _FLOATS, _TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6)), inner,
                                            max_size=4)),
    max_leaves=10,
)


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in ``data`` (the root excluded)."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append(prefix + (k,))
            out += paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append(prefix + (i,))
            out += paths(v, prefix + (i,))
    return out


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def structural_edit(draw, data: Any) -> str:
    """Apply one edit to ``data`` in place; return a description of it."""
    every = paths(data)
    kind = draw(st.sampled_from(["replace", "replace", "delete", "rename", "insert", "wrap", "duplicate",
                                 "retype", "swap", "nest"]))
    if not every or kind == "insert":
        containers = [()] + [p for p in every if isinstance(_value(data, p), (dict, list))]
        where = draw(st.sampled_from(containers))
        target = _value(data, where)
        value = draw(VALUES)
        if isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6)))
            target[key] = value
            return f"insert {where + (key,)} = {value!r}"
        target.insert(draw(st.integers(0, len(target))), value)
        return f"insert into {where}: {value!r}"
    path = draw(st.sampled_from(every))
    parent, last = _parent(data, path), path[-1]
    old = parent[last]
    if kind == "replace":
        parent[last] = draw(VALUES)
    elif kind == "delete":
        del parent[last]
    elif kind == "rename" and isinstance(parent, dict):
        new = draw(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6)))
        parent[new] = parent.pop(last)
    elif kind == "wrap":
        parent[last] = draw(st.sampled_from([[old], {"type": old}, {"type": old, "units": 3}, [old, old]]))
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(old))
    elif kind == "retype":
        parent[last] = _retyped(old)
    elif kind == "swap":
        others = [p for p in every if p != path and not _is_prefix(p, path) and not _is_prefix(path, p)]
        if others:
            other = draw(st.sampled_from(others))
            oparent = _parent(data, other)
            parent[last], oparent[other[-1]] = oparent[other[-1]], old
    elif kind == "nest":
        parent[last] = draw(st.sampled_from([{"a": old}, [[old]], {"type": {"type": old}}]))
    return f"{kind} {path} (was {old!r})"


def _value(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _is_prefix(a: tuple, b: tuple) -> bool:
    return len(a) <= len(b) and b[: len(a)] == a


def _retyped(value: Any) -> Any:
    """The same value in another type: 3 → "3" / 3.0 / true, "relu" → ["relu"], [1] → {"0": 1}…"""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


# ---------------------------------------------------------------------------- text edits

#: Characters that matter to the TOML and JSON grammars, mixed with ordinary ones.
SYNTAX = list('[]{}=,."\'#\n:\\') + ["\n[", "]]", '"""', "'''", "= [", "\t", " ", "1e", "0x", "-", "+", "inf", "nan",
                                     "true", "null", "³", "\ufeff", "\x00", "é"]


@st.composite
def text_edit(draw, text: str) -> str:
    """One edit of ``text``: delete a span, insert characters, duplicate or drop a line, swap two lines."""
    kind = draw(st.sampled_from(["delete", "insert", "insert", "dup_line", "drop_line", "swap_lines", "replace"]))
    n = len(text)
    if kind in ("delete", "insert", "replace") or "\n" not in text:
        at = draw(st.integers(0, n))
        if kind == "delete":
            return text[:at] + text[at + draw(st.integers(1, 12)):]
        piece = "".join(draw(st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=3)), min_size=1, max_size=4)))
        end = at + (draw(st.integers(1, 6)) if kind == "replace" else 0)
        return text[:at] + piece + text[end:]
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "dup_line":
        lines.insert(i, lines[i])
    elif kind == "drop_line":
        del lines[i]
    else:
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- TOML writer

class NotToml(Exception):
    """The value has no TOML form (null)."""


def to_toml(data: dict) -> str:
    """``data`` as TOML text, every table inline at the top level (``model = { … }``)."""
    return "".join(f"{_key(k)} = {_toml(v)}\n" for k, v in data.items())


def _key(key: Any) -> str:
    return json.dumps(str(key), ensure_ascii=False)


def _toml(value: Any) -> str:
    """Lists and tables inline (keys always quoted); scalars as dnnc writes trial overrides (toml_value)."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (bool, int, float, str)):
        return toml_value(value)
    raise NotToml  # null, and anything else TOML cannot hold


# ---------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    """One mutated spec: ``form`` is "dict", "json" or "toml"; ``payload`` the dict or the text."""

    example: str
    form: str
    payload: Any
    edits: tuple[str, ...]

    def describe(self) -> str:
        shown = self.payload if self.form != "dict" else json.dumps(self.payload, default=repr)[:2000]
        return f"{self.example} as {self.form} after {list(self.edits)}:\n{shown if isinstance(shown, str) else shown!r}"


@st.composite
def data_cases(draw) -> list[Case]:
    """A structurally mutated example, in the three forms it can be compiled from."""
    name, _, original = draw(st.sampled_from(EXAMPLES))
    data = copy.deepcopy(original)
    edits = tuple(draw(structural_edit(data)) for _ in range(draw(st.integers(1, 4))))
    cases = [Case(name, "dict", data, edits), Case(name, "json", json.dumps(data, ensure_ascii=False), edits)]
    try:
        cases.append(Case(name, "toml", to_toml(data), edits))
    except NotToml:
        pass
    return cases


@st.composite
def text_cases(draw) -> Case:
    """A textually mutated example, as TOML (its own text) or JSON (its JSON rendering)."""
    name, text, data = draw(st.sampled_from(EXAMPLES))
    form = draw(st.sampled_from(["toml", "json"]))
    text = text if form == "toml" else json.dumps(data, indent=2)
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        text = draw(text_edit(text))
        edits.append("text edit")
    return Case(name, form, text, tuple(edits))


def compile_case(case: Case) -> Any:
    """Compile a case; returns the ModelIR (or raises SpecError, the only allowed exception)."""
    from dnnc.compiler.compile import compile_spec
    from dnnc.compiler.source import parse_text

    if case.form == "dict":
        return compile_spec(case.payload)
    return compile_spec(parse_text(case.payload, case.form, display_name=f"{case.example}.{case.form}"))


def check_case(case: Case) -> str:
    """Compile ``case`` and check the property; return "valid" or "refused". Raises AssertionError otherwise."""
    from dnnc.compiler.errors import SpecError

    try:
        compile_case(case)
    except SpecError as exc:
        assert exc.issues, f"a SpecError without issues for {case.describe()}"
        for issue in exc.issues:
            rendered = issue.render()
            assert rendered and issue.file is not None, f"an issue without its file: {rendered!r}"
            if case.form != "dict":
                assert issue.line is not None, f"an issue without a line: {rendered!r} for {case.describe()}"
        return "refused"
    except Exception as exc:  # anything else is a dnnc bug: say which case caused it
        raise AssertionError(f"{type(exc).__name__}: {exc}\nfor {case.describe()}") from exc
    return "valid"


def example_paths() -> list[Path]:
    return example_specs()
