"""The JSON Schema of the spec, for editor completion of TOML and JSON files.

Pydantic generates the schema of the validated form; two things are added so
the schema accepts exactly what dnnc accepts: the string shorthand of every
`type`-discriminated table (`optimizer = "adam"`), and `$schema`/`title`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .metrics import _ALIASES as METRIC_ALIASES

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _tags(node: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    """The `type` tags of a discriminated union (from its mapping, or its members' const)."""
    mapping = node.get("discriminator", {}).get("mapping")
    if mapping:
        return list(mapping)
    tags = []
    for member in node.get("oneOf", []) + node.get("anyOf", []):
        ref = member.get("$ref", "")
        target = defs.get(ref.rsplit("/", 1)[-1], member) if ref else member
        const = target.get("properties", {}).get("type", {}).get("const")
        if const is None:
            return []
        tags.append(const)
    return tags


def _add_shorthand(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_add_shorthand(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _add_shorthand(v, defs) for k, v in node.items()}
    if "discriminator" in node:
        tags = _tags(node, defs)
        if "accuracy" in tags:
            tags = tags + list(METRIC_ALIASES)
        if tags:
            return {"anyOf": [{"type": "string", "enum": tags}, node]}
    return node


def spec_json_schema(spec_model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec model, with string shorthands."""
    schema = spec_model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    schema = _add_shorthand(schema, defs)
    # single-model shorthand (a union with one member has no discriminator)
    return {"$schema": DRAFT, "title": "dnnc network spec", **{k: v for k, v in schema.items() if k != "title"}}
