"""The compiler pipeline: load → validate → lower → IR."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..plugins.manager import Registry, get_registry
from .errors import SpecError
from .ir import ModelIR
from .locate import locate_issues
from .lower import lower
from .source import SpecSource, load_source, parse_text
from .validate import validate_data


def _source_of(source: str | Path | dict | SpecSource) -> SpecSource:
    if isinstance(source, SpecSource):
        return source
    if isinstance(source, dict):
        return SpecSource(path=None, display_name="<dict>", text="", format="json", data=source)
    return load_source(source)


def _default_name(src: SpecSource) -> str:
    return src.path.stem if src.path is not None else "model"


def load_spec(source: str | Path | dict | SpecSource, *, registry: Registry | None = None) -> tuple[SpecSource, Any]:
    """Parse and validate a spec; return (source, validated spec). Raises SpecError."""
    registry = registry or get_registry()
    src = _source_of(source)
    spec, issues = validate_data(src.data, registry.spec_model())
    if issues:
        raise _located(src, issues)
    return src, spec


def located_error(src: SpecSource, issues) -> SpecError:
    """A SpecError whose issues carry the file, line and column of their path in `src`."""
    return _located(src, issues)


def _located(src: SpecSource, issues) -> SpecError:
    if src.text:
        issues = locate_issues(src, issues)
    else:
        issues = [replace(i, file=src.display_name) for i in issues]
    return SpecError(issues)


def compile_spec(source: str | Path | dict | SpecSource, *, registry: Registry | None = None,
                 name: str | None = None) -> ModelIR:
    """Compile a spec (a path, a parsed dict, or a SpecSource) to the IR. Raises SpecError."""
    registry = registry or get_registry()
    src, spec = load_spec(source, registry=registry)
    try:
        return lower(spec, registry, name=name or _default_name(src))
    except SpecError as exc:
        raise _located(src, exc.issues) from None


def compile_text(text: str, fmt: str = "toml", *, registry: Registry | None = None, name: str = "model") -> ModelIR:
    """Compile spec text (TOML or JSON)."""
    return compile_spec(parse_text(text, fmt), registry=registry, name=name)
