"""Stock Keras 3 optimizers built from an optimizer IR dict.

dnnc's documented formulas are the Keras 3 ones, so the stock classes are used
as they are; every hyperparameter is passed explicitly (no Keras default is
relied on).  The learning rate is a plain variable, never a Keras
`LearningRateSchedule`: every training step assigns the float32 value the
runner gives it (from :func:`dnnc.numerics.learning_rate_at`, possibly scaled,
e.g. by reduce-on-plateau) to that variable inside the compiled step (see
:mod:`.steps`), which also makes Keras's decoupled weight decay use that value.

Precision note: stock Keras computes Adam-family bias corrections 1 − β^t in
float32 (β2 = 0.999 becomes 0.99900001), so its steps differ from the exact
formula by about 7e-6 relative; the NumPy reference and the torch backend use
float64 scalars.  This is rounding, not a different formula (measured in
tests/numerics/test_optimizers.py), so no custom Keras optimizer is needed.
"""

from __future__ import annotations

from typing import Any, Mapping

from dnnc.numerics.optimizers import HYPERPARAMETERS
from dnnc.numerics.schedules import learning_rate_at

_KERAS_CLASS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "adamax": "Adamax",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
}



def _py(value: Any) -> Any:
    """Keras insists on Python floats (SGD rejects an int momentum); keep bools as bools."""
    if isinstance(value, bool) or value is None:
        return value
    return float(value)


def build_keras_optimizer(opt_ir: Mapping[str, Any]):
    """A stock `keras.optimizers.*` instance for an optimizer IR dict, every hyperparameter explicit."""
    import keras

    kind = opt_ir.get("type")
    if kind not in _KERAS_CLASS:
        raise ValueError(f"unknown optimizer type {kind!r}; known: {', '.join(sorted(_KERAS_CLASS))}")
    cls = getattr(keras.optimizers, _KERAS_CLASS[kind])
    wd = float(opt_ir["weight_decay"])
    kwargs = {k: _py(opt_ir[k]) for k in HYPERPARAMETERS[kind]}
    return cls(
        learning_rate=learning_rate_at(opt_ir["learning_rate"], 0),
        # None and 0.0 are the same no-op in Keras; AdamW refuses None.
        weight_decay=wd if (wd or kind == "adamw") else None,
        clipnorm=_py(opt_ir.get("clipnorm")),
        global_clipnorm=_py(opt_ir.get("global_clipnorm")),
        clipvalue=_py(opt_ir.get("clipvalue")),
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        **kwargs,
    )
