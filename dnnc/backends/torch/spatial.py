"""torch modules of the spatial ops (convolution, pooling, global pooling) on channels-last data.

The modules take and return channels-last tensors, exactly as the IR describes
them; each one moves the channel axis to position 1 for torch's kernel and back
(``movedim``: a view, so on channels-last memory no copy is made), so a
``flatten`` after a convolution reads (h, w, c) like Keras.

* Padding follows the IR's rule (TensorFlow's, :func:`~dnnc.compiler.ops_spatial.padding_amounts`):
  symmetric padding is passed to the kernel, asymmetric padding is an explicit
  ``F.pad`` (zeros for a convolution, −∞ for max pooling) — torch's own
  ``padding="same"`` refuses strides above 1 and pads the other way round.
* Average pooling over a padded window divides the window's sum by its number
  of real cells (TensorFlow's rule; torch's ``count_include_pad`` would count
  the padding, and an explicit pad would make the zeros look real).
* Global max pooling is ``amax`` (the gradient is split evenly between tied
  maxima, as TensorFlow's ``reduce_max``); max pooling keeps torch's argmax.
* The convolution weight is in torch's layout ``(filters, in/groups, *window)``;
  :mod:`.layout` converts it from the canonical ``(*window, in/groups, filters)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...compiler.ops_spatial import output_size, padding_amounts
from .modules import _describe, activation_fn


def _pads(spatial: Sequence[int], window: Sequence[int], strides: Sequence[int], dilation: Sequence[int],
          padding: str) -> list[tuple[int, int]]:
    return [padding_amounts(n, k, s, d, padding) for n, k, s, d in zip(spatial, window, strides, dilation)]


def _f_pad(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """``F.pad``'s argument: (before, after) of the last axis first."""
    return tuple(v for pair in reversed(pads) for v in pair)


class Conv(nn.Module):
    """y = activation(conv(x, weight) + bias) over channels-last (N, *spatial, C) input (rank 1 or 2)."""

    def __init__(self, rank: int, in_channels: int, spatial: Sequence[int], attrs: Any) -> None:
        super().__init__()
        a = attrs
        self.rank, self.stride, self.dilation, self.groups = rank, tuple(a.strides), tuple(a.dilation_rate), a.groups
        self.weight = nn.Parameter(torch.zeros(a.filters, in_channels // a.groups, *a.kernel_size))
        self.bias = nn.Parameter(torch.zeros(a.filters)) if a.use_bias else None
        pads = _pads(spatial, a.kernel_size, a.strides, a.dilation_rate, a.padding)
        symmetric = all(before == after for before, after in pads)
        self.padding = tuple(before for before, _ in pads) if symmetric else (0,) * rank
        self.explicit_pad = None if symmetric else _f_pad(pads)
        self.conv = F.conv1d if rank == 1 else F.conv2d
        self.activation_ir = a.activation
        self.act = activation_fn(a.activation)

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        """conv(x, weight) + bias, channels-last: what the activation receives (the probe's pre-activation)."""
        xt = x.movedim(-1, 1)
        if self.explicit_pad is not None:
            xt = F.pad(xt, self.explicit_pad)
        z = self.conv(xt, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return z.movedim(1, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(x))

    def extra_repr(self) -> str:
        return (f"weight={tuple(self.weight.shape)}, stride={self.stride}, padding={self.explicit_pad or self.padding}, "
                f"dilation={self.dilation}, groups={self.groups}, activation={_describe(self.activation_ir)}")


class Pool(nn.Module):
    """Max or average pooling over channels-last (N, *spatial, C) input; a 1-D op runs as 2-D with height 1."""

    def __init__(self, kind: str, rank: int, spatial: Sequence[int], attrs: Any) -> None:
        super().__init__()
        self.kind, self.rank = kind, rank
        lift = (lambda v: (1, *v)) if rank == 1 else tuple
        window, strides, spatial = lift(attrs.pool_size), lift(attrs.strides), lift(spatial)
        self.window, self.stride = tuple(window), tuple(strides)
        pads = _pads(spatial, window, strides, (1, 1), attrs.padding)
        self.explicit_pad = _f_pad(pads) if any(sum(p) for p in pads) else None
        if kind == "avg" and self.explicit_pad is not None:
            counts = []
            for n, k, s, (before, _) in zip(spatial, window, strides, pads):
                starts = torch.arange(output_size(n, k, s, 1, attrs.padding)) * s - before
                counts.append((starts + k).clamp(max=n) - starts.clamp(min=0))
            # a constant, not a buffer: it is no state of the model (nor counted as a parameter)
            self.count = (counts[0][:, None] * counts[1][None, :]).to(torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x4 = x.unsqueeze(1) if self.rank == 1 else x
        xt = x4.movedim(-1, 1)
        if self.kind == "max":
            if self.explicit_pad is not None:
                xt = F.pad(xt, self.explicit_pad, value=float("-inf"))
            y = F.max_pool2d(xt, self.window, self.stride)
        elif self.explicit_pad is None:
            y = F.avg_pool2d(xt, self.window, self.stride)
        else:  # the sum of each window over its real cells only
            if self.count.device != xt.device:
                self.count = self.count.to(xt.device)  # placed once, with the first batch on the model's device
            y = F.avg_pool2d(F.pad(xt, self.explicit_pad), self.window, self.stride, divisor_override=1) / self.count
        y = y.movedim(1, -1)
        return y.squeeze(1) if self.rank == 1 else y

    def extra_repr(self) -> str:
        return f"{self.kind}, window={self.window}, stride={self.stride}, pad={self.explicit_pad}"


class GlobalPool(nn.Module):
    """The maximum (``amax``) or mean over every spatial axis of (N, *spatial, C) input, per channel."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axes = tuple(range(1, x.ndim - 1))
        return x.amax(dim=axes) if self.kind == "max" else x.mean(dim=axes)

    def extra_repr(self) -> str:
        return self.kind


class ZeroPadding2D(nn.Module):
    """Zeros around (N, H, W, C) input: ``F.pad`` directly on the channels-last tensor."""

    def __init__(self, padding: Sequence[Sequence[int]]) -> None:
        super().__init__()
        (top, bottom), (left, right) = padding
        self.pad = (0, 0, left, right, top, bottom)  # channels, width, height

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pad)

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


class UpSampling2D(nn.Module):
    """Nearest-neighbour upsampling of (N, H, W, C) input: rows then columns repeated (``repeat_interleave``)."""

    def __init__(self, size: Sequence[int]) -> None:
        super().__init__()
        self.size = tuple(int(s) for s in size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.size[0], dim=1).repeat_interleave(self.size[1], dim=2)

    def extra_repr(self) -> str:
        return f"size={self.size}"
