"""Pydantic validation of a parsed spec, with every error turned into a :class:`SpecIssue`."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import _MISSING, Loc, SpecError, SpecIssue
from .suggest import did_you_mean, format_choices

#: What the value at a key is called in "unknown … type" messages.
_CATEGORY = {
    "layers": "layer type", "kernel_init": "initializer", "bias_init": "initializer",
    "kernel_regularizer": "regularizer", "bias_regularizer": "regularizer", "activation": "activation",
    "optimizer": "optimizer", "learning_rate": "learning-rate schedule", "callbacks": "callback",
    "dataset": "dataset", "loss": "loss", "metrics": "metric",
}

_OPS = {"greater_than": (">", "gt"), "greater_than_equal": ("≥", "ge"), "less_than": ("<", "lt"),
        "less_than_equal": ("≤", "le")}

_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "an array",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
    "tuple_type": "an array",
}


def clean_loc(data: Any, raw: tuple, *, keep_missing_last: bool = False) -> Loc:
    """Keep the parts of a Pydantic error location that exist in the data (dropping union tags).

    With `keep_missing_last`, a final part absent from the data (a missing key) is kept.
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(raw):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif keep_missing_last and i == len(raw) - 1 and isinstance(part, str):
            path.append(part)
        # anything else is a union tag or a validator name: skip it
    return tuple(path)


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Annotated/Optional/Union flattened)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out = []
        for arg in typing.get_args(annotation):
            out += _unwrap(arg)
        return out
    return [annotation]


def model_at(root: type[BaseModel], raw: tuple) -> type[BaseModel] | None:
    """Follow a raw Pydantic location (with union tags) through the model classes."""
    candidates: list[Any] = [root]
    for part in raw:
        nxt: list[Any] = []
        for cand in candidates:
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                if isinstance(part, str) and part in cand.model_fields:
                    nxt += _unwrap(cand.model_fields[part].annotation)
                elif isinstance(part, str) and "type" in cand.model_fields:
                    tag_ann = cand.model_fields["type"].annotation
                    if part in typing.get_args(tag_ann):
                        nxt.append(cand)
                continue
            origin = typing.get_origin(cand)
            args = typing.get_args(cand)
            if origin in (list, tuple) and isinstance(part, int) and args:
                nxt += _unwrap(args[0])
            elif origin is dict and isinstance(part, str) and len(args) == 2:
                nxt += _unwrap(args[1])
        # keep model classes tagged by this part first (a tag selects one member)
        candidates = nxt or candidates
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if len(models) == 1 else None


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _category(path: Loc) -> str:
    for part in reversed(path):
        if isinstance(part, str) and part in _CATEGORY:
            return _CATEGORY[part]
    return "type"


def issue_from_error(err: dict, data: Any, root: type[BaseModel]) -> SpecIssue:
    """One Pydantic error dict → one SpecIssue."""
    raw = tuple(err["loc"])
    path = clean_loc(data, raw, keep_missing_last=err["type"] == "missing")
    kind = err["type"]
    ctx = err.get("ctx") or {}
    received = err.get("input")

    if kind == "extra_forbidden":
        key = raw[-1]
        model = model_at(root, raw[:-1])
        allowed = sorted(model.model_fields) if model is not None else []
        guess = did_you_mean(str(key), allowed) if allowed else None
        return SpecIssue(path, f"unknown key {key!r}", allowed=format_choices(allowed) if allowed else None,
                         hint=f"did you mean {guess!r}?" if guess else None, kind="unknown_key")
    if kind == "union_tag_invalid":
        tags = _quoted(ctx.get("expected_tags", ""))
        if isinstance(received, dict) and not isinstance(received.get("type"), str):
            return SpecIssue(path + ("type",), f"expected a string naming the {_category(path)}", received=received.get("type"),
                             allowed=format_choices(tags), kind="type")
        tag = ctx.get("tag")
        guess = did_you_mean(str(tag), tags)
        return SpecIssue(path, f"unknown {_category(path)} {tag!r}", allowed=format_choices(tags),
                         hint=f"did you mean {guess!r}?" if guess else None, kind="unknown_type")
    if kind == "union_tag_not_found":
        return SpecIssue(path, f"missing key 'type' (the {_category(path)})", kind="missing")
    if kind == "missing":
        return SpecIssue(path, f"missing required key {raw[-1]!r}", kind="missing")
    if kind == "literal_error":
        options = _quoted(ctx.get("expected", ""))
        guess = did_you_mean(str(received), options) if isinstance(received, str) else None
        return SpecIssue(path, "not an allowed value", received=received, allowed=format_choices(options),
                         hint=f"did you mean {guess!r}?" if guess else None)
    if kind in _OPS:
        symbol, key = _OPS[kind]
        return SpecIssue(path, f"must be {symbol} {ctx.get(key)}", received=received, kind="range")
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return SpecIssue(path, f"must have {word} {bound} item{'s' if bound != 1 else ''}", received=received)
    if kind == "finite_number":
        return SpecIssue(path, "must be a finite number", received=received, kind="range")
    if kind in _TYPE_WORDS:
        return SpecIssue(path, f"expected {_TYPE_WORDS[kind]}", received=received, kind="type")
    if kind == "device_name":
        from ..backends.devices import DEVICE_FORMS

        guess = None
        if isinstance(received, str):
            guess = ("cuda" + received[3:] if received.lower().startswith("gpu")  # TensorFlow's word for it
                     else did_you_mean(received, [f for f in DEVICE_FORMS if f != "cuda:N"]))
        return SpecIssue(path, "not a device", received=received, allowed=str(ctx.get("allowed")),
                         hint=f"did you mean {guess!r}?" if guess else None)
    if kind == "string_pattern_mismatch":
        return SpecIssue(path, "not a valid name", received=received,
                         allowed="ASCII letters A–Z a–z, digits 0–9, '_', '.' and '-', starting with a letter or '_'")
    message = err.get("msg", "invalid value")
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return SpecIssue(path, message, received=_MISSING if isinstance(received, dict) else received)


def _priority(issue: SpecIssue) -> int:
    return 1 if issue.kind == "type" else 0


def validate_data(data: dict, root: type[BaseModel]) -> tuple[Any, list[SpecIssue]]:
    """Validate parsed spec data; return (model instance or None, issues)."""
    try:
        return root.model_validate(data), []
    except ValidationError as exc:
        by_path: dict[Loc, SpecIssue] = {}
        for err in exc.errors(include_url=False):
            issue = issue_from_error(err, data, root)
            old = by_path.get(issue.path)
            if old is None or _priority(issue) < _priority(old):
                by_path[issue.path] = issue
        return None, list(by_path.values())


def raise_if(issues: list[SpecIssue]) -> None:
    if issues:
        raise SpecError(issues)
