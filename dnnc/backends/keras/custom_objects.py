"""The few Keras objects dnnc registers for serialization (imports keras).

Artifacts of models that use only stock layers (every dnnc layer except GELU
with ``approximate = true``) load with plain ``keras.saving.load_model(path)``.
An artifact that uses the tanh-approximated GELU refers to the registered
function ``dnnc>gelu_tanh``; load it after importing this module::

    import dnnc.backends.keras.custom_objects  # registers dnnc>gelu_tanh
    model = keras.saving.load_model("model.keras")

or pass ``custom_objects=CUSTOM_OBJECTS``.  (``import dnnc`` alone does not
import keras, so it cannot register anything.)  ``KerasBackend.load`` imports
this module itself.
"""

from __future__ import annotations

from .runtime import import_keras

keras = import_keras()


@keras.saving.register_keras_serializable(package="dnnc", name="gelu_tanh")
def gelu_tanh(x):
    """GELU with the tanh approximation: 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)))."""
    return keras.activations.gelu(x, approximate=True)


#: Everything registered here, for ``load_model(..., custom_objects=CUSTOM_OBJECTS)``.
CUSTOM_OBJECTS = {"dnnc>gelu_tanh": gelu_tanh}
