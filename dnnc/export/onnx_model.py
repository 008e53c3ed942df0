"""Tidying the exporter's ONNX file: the batch axis named ``batch``, inputs and outputs in the IR's order,
and what the file holds written into its metadata.

Exporters differ in small ways (tf2onnx sorts the inputs and outputs by name
and calls the unknown batch axis ``unk__8``); after this step the two
backends' files have the same interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..compiler.ir import ModelIR
from .errors import ExportError

BATCH_AXIS = "batch"


def _reorder(field, names: list[str], what: str, path: Path) -> None:
    by_name = {value.name: value for value in field}
    if set(by_name) != set(names):
        raise ExportError(f"{path}: the exporter wrote the {what} {sorted(by_name)}, the model's are {names}")
    ordered = [type(by_name[n])() for n in names]
    for copy, name in zip(ordered, names):
        copy.CopyFrom(by_name[name])
    del field[:]
    field.extend(ordered)


def finish_onnx_file(path: Path, ir: ModelIR, metadata: Mapping[str, str]) -> tuple[int, int]:
    """Rewrite the file at `path` as described above and check it with ``onnx.checker``; (opset, IR version)."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    for value in list(graph.input):
        if value.name in initializers:  # old exporters list weights as inputs
            graph.input.remove(value)
    _reorder(graph.input, list(ir.inputs), "inputs", path)
    _reorder(graph.output, [o.name for o in ir.outputs], "outputs", path)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if not dims:
            raise ExportError(f"{path}: {value.name!r} has no shape in the exported graph")
        dims[0].Clear()
        dims[0].dim_param = BATCH_AXIS
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return opset, model.ir_version


def interface(path: Path) -> list[tuple[str, str, list[str]]]:
    """("input"/"output", name, shape) of each graph input and output, the dims as text."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    rows = []
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for value in values:
            dims = [d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim]
            rows.append((kind, value.name, dims))
    return rows
