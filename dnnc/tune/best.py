"""``best.toml``: the user's spec with the best trial's values written in, ready to train again.

The file is the spec file itself, edited in place with tomlkit, so comments,
layout and every key the search does not touch stay as the user wrote them;
only the searched values change (a string shorthand on a searched path,
``optimizer = "sgd"``, becomes the inline table ``{ type = "sgd", learning_rate = … }``,
as ``--set`` does).  Three more edits keep it meaning the same model as the
trial:

* a relative ``data.dataset.path`` is rewritten relative to the output directory
  (data paths are relative to the spec file, which moved), or made absolute when
  the two directories share nothing but the root;
* ``name`` is written when the spec has none (the default name is the file's
  name, and ``best`` would name the model differently);
* a comment header names the study, the trial, its value and the command that
  trains it again.

``dnnc train <out>/best.toml --backend B`` with the trial's backend then trains
the same IR with the same seed, so it reproduces the trial's value (exactly on
CPU, where training is bit-identical run to run).  A JSON spec gives ``best.json``
(the same data, no comments).  The written file is compiled before it is kept:
it is always a valid spec.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from ..compiler.compile import compile_spec
from ..compiler.errors import Loc
from ..compiler.source import SpecSource
from ..runner.overrides import set_path
from .space import Param


def best_file_name(source: SpecSource) -> str:
    return "best.json" if source.format == "json" else "best.toml"


def write_best_spec(source: SpecSource, params: list[Param], values: dict[str, Any], out_dir: Path, *,
                    name: str, header: list[str]) -> Path:
    """Write the spec with ``values`` (parameter key → spec value) into ``out_dir``; return its path."""
    out_dir = Path(out_dir).resolve()
    target = out_dir / best_file_name(source)
    spec_dir = source.path.resolve().parent if source.path is not None else out_dir
    if source.format == "toml":
        text = _edited_toml(source, params, values, name=name, moved=(spec_dir, out_dir))
        text = "".join(f"# {line}\n" for line in header) + text
    else:
        data = copy.deepcopy(source.data)
        for p in params:
            set_path(data, p.path, values[p.key], p.key)
        data.setdefault("name", name)
        _move_dataset_path(data, spec_dir, out_dir)
        text = json.dumps(data, indent=2) + "\n"
    target.write_text(text)
    compile_spec(target)  # raises SpecError if the edit broke anything (a dnnc bug)
    return target


def _edited_toml(source: SpecSource, params: list[Param], values: dict[str, Any], *, name: str,
                 moved: tuple[Path, Path]) -> str:
    import tomlkit

    doc = tomlkit.parse(source.text)
    for p in params:
        _set(doc, p.path, values[p.key])
    if "name" not in doc:
        doc.add("name", name)
    data = doc.get("data")
    if data is not None:
        _move_dataset_path(data, *moved)
    return tomlkit.dumps(doc)


def _set(doc, path: Loc, value: Any) -> None:
    """``set_path`` on a tomlkit document (the spec was checked with these paths, so they exist or can be made)."""
    node = doc
    for depth, part in enumerate(path[:-1]):
        child = node[part] if isinstance(part, int) or part in node else None
        nxt = path[depth + 1]
        if child is None:
            child = _item({})
            node[part] = child
            child = node[part]
        elif isinstance(child, str) and isinstance(nxt, str):
            node[part] = _item({"type": str(child)})
            child = node[part]
        node = child
    node[path[-1]] = _item(value)


def _item(value: Any):
    """A tomlkit item that may stand anywhere: tables become inline tables."""
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table[k] = _item(v)
        return table
    if isinstance(value, (list, tuple)):
        array = tomlkit.array()
        for v in value:
            array.append(_item(v))
        return array
    return tomlkit.item(value)


def _move_dataset_path(data, spec_dir: Path, out_dir: Path) -> None:
    dataset = data.get("dataset") if hasattr(data, "get") else None
    if not hasattr(dataset, "get"):
        return
    path = dataset.get("path")
    if isinstance(path, str) and path and not Path(path).expanduser().is_absolute():
        target = (spec_dir / path).resolve()
        shared = os.path.commonpath([target, out_dir]) != os.path.sep
        dataset["path"] = os.path.relpath(target, out_dir) if shared else str(target)


__all__ = ["best_file_name", "write_best_spec"]
