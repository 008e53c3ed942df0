"""The NumPy reference of the IR: the judge of every backend (float64 oracle with float32 error bounds).

    from dnnc.reference import Reference
    oracle = Reference(ir, "bounded")       # or "float64", "float32"
    e = oracle.loss_and_gradients(weights, inputs, targets, dropout_masks=masks)
    e.losses["loss"].v, e.losses["loss"].e  # the float64 value and the float32 error bound
    e.gradients["dense/kernel"]             # every trainable parameter

It depends on NumPy and dnnc's own definitions only — no backend, no
framework — so it can judge them all.  One module per concern:

* :mod:`.arith` — the three modes and the float32 error bound (the criterion);
* :mod:`.activations` — every activation and its derivative;
* :mod:`.ops` — one forward and one backward function per IR op (the spatial ops — convolutions, pooling,
  padding, upsampling — in :mod:`.spatial`);
* :mod:`.losses` — every loss with its head, its gradient, the penalties;
* :mod:`.graph` — the interpreter (:class:`Reference`);
* :mod:`.optimizer` — optimizer steps (:mod:`dnnc.numerics.optimizers` and the
  schedules) and the bound of one step.

Every built-in op (:data:`dnnc.compiler.ops.BUILTIN_OPS`) is implemented;
``tests/reference`` checks every op, activation and loss against central
finite differences in float64.
"""

from .arith import U32, Bounded, bound, gamma, value
from .graph import Evaluation, Reference, UnsupportedOp, unsupported_ops

__all__ = ["U32", "Bounded", "Evaluation", "Reference", "UnsupportedOp", "bound", "gamma", "unsupported_ops", "value"]
