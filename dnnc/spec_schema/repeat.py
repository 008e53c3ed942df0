"""The `repeat` block of `model.layers`: the listed layers, `times` times over.

    layers = [
      { type = "repeat", times = 2, layers = [ { type = "dense", units = 30, activation = "relu" } ] },
      { type = "dense", units = 1 },
    ]

is the same model as two `dense` layers of 30 units followed by the output
layer.  It is a spec-level construct: the compiler expands every block
(:mod:`dnnc.compiler.expand`) before anything is lowered, so the IR, the
backends and the runner only ever see ordinary layers.  `times = 0` yields no
layer at all, which is how a search over the number of hidden layers
(`"model.layers[0].times" = { type = "int", low = 0, high = 3 }`) is written.

The `layers` field is added by :func:`dnnc.spec_schema.spec.build_spec_model`,
because its members (every layer type, and `repeat` itself, so blocks nest)
depend on the installed plugins.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import StrictModel

REPEAT = "repeat"
"""The `type` of a repeat block; reserved: no plugin may register a layer type of this name."""


class RepeatBlockBase(StrictModel):
    """Copies of the listed layers, in order, `times` times (`times = 0`: none); expanded by the compiler.

    Unnamed layers get the usual generated names (`dense`, `dense_1`, …) in the
    expanded order.  A layer named `h` inside the block is named `h` in the first
    copy, `h_1` in the second, `h_2` in the third…; an `inputs` entry naming a layer
    of the same block refers to that layer of the same copy, any other name is
    left as it is.  Without `inputs`, a block's first layer takes the previous
    layer's output (the previous copy's last layer, or the layer before the block).
    """

    type: Literal["repeat"]
    times: int = Field(..., ge=0, description="How many copies of `layers` (0 allowed: no layer).")
