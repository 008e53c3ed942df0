"""`dnnc eject`: a spec as one readable, formatted Python module of plain Keras 3 or PyTorch code.

The module imports only the framework, NumPy and the standard library (never
dnnc).  It is generated from the compiled IR, so every value dnnc resolved is
written out, by one emitter per IR op per framework (:mod:`.torch_emitters`,
:mod:`.keras_emitters`) and a module template per framework
(:mod:`.torch_module`, :mod:`.keras_module`).  See docs/export.md.
"""

from __future__ import annotations

from ..compiler.ir import ModelIR
from .context import EjectError

FRAMEWORKS = ("torch", "keras")


def eject_source(ir: ModelIR, to: str, *, source: str, weights: str | None = None) -> str:
    """The ejected module's source for `ir` (compiled from the spec file `source`, as the user named it);
    `weights` is the path of canonical weights (a run's weights.npz) that build_model() loads, or None."""
    from .._version import __version__

    if to not in FRAMEWORKS:
        raise EjectError(f"unknown framework {to!r} (allowed: {', '.join(FRAMEWORKS)})")
    check_ejectable(ir, weights)
    if to == "torch":
        from .torch_module import torch_module

        return torch_module(ir, source=source, version=__version__, weights=weights)
    from .keras_module import keras_module

    return keras_module(ir, source=source, version=__version__, weights=weights)


def check_ejectable(ir: ModelIR, weights: str | None) -> None:
    """EjectError for what dnnc's runner does that an ejected module does not (yet) write out, rather than a
    module that would train another model than the spec's."""
    if ir.init_from is not None and weights is None:
        raise EjectError(f"model.init_from copies weights from {ir.init_from.source!r} before training, which the "
                         "ejected module does not do; eject with --weights RUN_DIR (a run of this spec) to start "
                         "from that run's weights")
    if ir.training is not None:
        for i, cb in enumerate(ir.training.callbacks):
            if cb["type"] == "unfreeze":
                raise EjectError(f"training.callbacks[{i}]: the unfreeze callback (two-phase fine-tuning) is not "
                                 "ejected yet; remove it to eject the first phase")


__all__ = ["EjectError", "FRAMEWORKS", "eject_source"]
