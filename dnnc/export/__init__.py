"""`dnnc export`: a trained model as an ONNX file, written by the framework's own exporter and checked
against ONNX Runtime.

    from dnnc.export import export_onnx
    report = export_onnx(model, ir, "model.onnx", rows=x, rows_kind="test rows")
    report.max_difference      # max |ONNX Runtime − backend| over the rows and outputs

The backend writes the file (``CompiledModel.export_onnx``: ``torch.onnx`` or
Keras's ``Model.export``); :mod:`.onnx_model` names the batch axis and orders
and annotates the graph; :mod:`.verify` runs it with ONNX Runtime.  Only the
export itself imports onnx / onnxruntime.  See docs/export.md.
"""

from __future__ import annotations

from .errors import ExportError
from .onnx_export import DEFAULT_OPSET, OPSETS, ExportReport, export_onnx, random_rows, require_packages

__all__ = ["DEFAULT_OPSET", "ExportError", "ExportReport", "OPSETS", "export_onnx", "random_rows",
           "require_packages"]
