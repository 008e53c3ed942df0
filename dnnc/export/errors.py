"""The error of `dnnc export`."""


class ExportError(Exception):
    """The model cannot be exported or the ONNX file does not match the model (exit 1; the message says why)."""
