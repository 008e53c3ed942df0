"""ONNX export of a Keras model: Keras 3's own ``Model.export(format="onnx")`` (tf2onnx on TensorFlow).

A functional wrapper over the native model applies the output heads
(softmax/sigmoid ``Activation`` layers) unless the logits are asked for; its
inputs and outputs are dicts keyed by the IR names, so the ONNX graph names
them the same way.  The batch axis is left unknown (``None``); dnnc names it
``batch`` afterwards (:mod:`dnnc.export.onnx_model`).

Keras 3 runs a grouped convolution (``groups > 1``) on TensorFlow as an
XLA-compiled function (TensorFlow's CPU kernel refuses groups), which tf2onnx
cannot convert (``StatefulPartitionedCall``); while exporting, the convolution
is traced as the plain ``tf.nn.convolution`` it wraps (:func:`_convolutions_without_xla`),
which tf2onnx writes as an ONNX ``Conv`` with ``group``.  Nothing runs that
graph in TensorFlow; the file is checked against the backend's own outputs.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any, Iterator

from ...compiler.ir import ModelIR
from .runtime import import_keras


def exporter_name() -> str:
    import tensorflow as tf
    import tf2onnx

    keras = import_keras()
    return f"keras {keras.__version__} Model.export (tf2onnx {tf2onnx.__version__}, TensorFlow {tf.__version__})"


@contextlib.contextmanager
def _convolutions_without_xla() -> Iterator[None]:
    """Keras's TensorFlow ``conv`` without its XLA wrapper for grouped convolutions, for the duration of a trace."""
    import tensorflow as tf
    from keras.src import backend
    from keras.src.backend.tensorflow import nn

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = backend.standardize_data_format(data_format)
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(),
                                 data_format=nn._convert_data_format(data_format, len(inputs.shape)),
                                 dilations=dilation_rate)

    original = nn.conv
    nn.conv = conv
    try:
        yield
    finally:
        nn.conv = original


def export_keras_onnx(native: Any, ir: ModelIR, path: Path, *, logits: bool, opset: int) -> str:
    """Write the ONNX file of the functional model `native` (logits out) to `path`; return the exporter's name."""
    import tensorflow as tf

    keras = import_keras()
    inputs = {name: keras.Input(shape=tuple(ir.node(name).shape), name=name, dtype="float32") for name in ir.inputs}
    raw = native(inputs[ir.inputs[0]] if len(ir.inputs) == 1 else inputs, training=False)
    raw = {ir.outputs[0].name: raw} if len(ir.outputs) == 1 else raw
    outputs = {}
    for out in ir.outputs:
        head = "linear" if logits else out.head
        outputs[out.name] = keras.layers.Activation(head, name=f"{out.name}_{head}")(raw[out.name])
    wrapper = keras.Model(inputs, outputs, name=native.name)
    signature = [{name: tf.TensorSpec((None, *ir.node(name).shape), tf.float32, name=name) for name in ir.inputs}]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), _convolutions_without_xla():
        # (stdout: tf2onnx's progress; FutureWarning: keras's NumPy 2 patch of tf2onnx sets np.object)
        warnings.simplefilter("ignore", FutureWarning)
        wrapper.export(str(path), format="onnx", opset_version=opset, input_signature=signature, verbose=False)
    return exporter_name()
