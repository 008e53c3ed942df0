"""The reference of the spatial ops: convolutions, pooling, global pooling (forward and backward).

Every op works on 2-D channels-last data ``(N, H, W, C)``; a 1-D op is the
same op with ``H = 1`` (its input, kernel and gradients are reshaped, which is
exact).  A window op gathers its *patches* ``(N, OH, OW, KH, KW, C)`` from the
padded input (:func:`dnnc.compiler.ops_spatial.padding_amounts`, the IR's
rule; padding is exact: zeros, or −∞ for max pooling), so

* a convolution is one matrix product per channel group, patches × kernel —
  its bound is :func:`~dnnc.reference.arith.matmul`'s, padded zeros not
  counted as terms;
* the gradient of the patches goes back to the input by summing, for each
  input cell, the contributions of every window covering it
  (:func:`_col2im`: one exact scatter per window offset, then one bounded sum
  over the offsets), and the padding is cropped;
* max pooling is :func:`~dnnc.reference.arith.max_reduce` over each window
  with ``ties="any"`` (the frameworks keep one argmax, so a float32 evaluation
  may route the gradient to any cell within its bound of the maximum, or to
  any of exactly tied maxima); global max pooling splits exact ties evenly
  (``reduce_max``);
* average pooling divides each window's sum by its number of real cells;
  quotients are bounded both as ``s / n`` and as ``s·fl(1/n)``
  (:func:`~dnnc.reference.arith.either`), the two ways frameworks compute them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..compiler.ops_spatial import output_size, padding_amounts
from . import arith as A
from .activations import activation_backward, activation_forward


@dataclass(frozen=True)
class Geometry:
    """Where each window of a 2-D op reads in the padded input."""

    in_hw: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    rows: np.ndarray  # (OH, KH): padded row read by output row o at window row i
    cols: np.ndarray  # (OW, KW)

    @property
    def padded(self) -> tuple[int, int]:
        return (self.in_hw[0] + sum(self.pads[0]), self.in_hw[1] + sum(self.pads[1]))

    def count(self) -> np.ndarray:
        """(1, OH, OW, 1): the number of real (unpadded) cells of each window."""
        real = [((idx >= p[0]) & (idx < p[0] + n)).sum(axis=1) for idx, p, n in zip((self.rows, self.cols),
                                                                                      self.pads, self.in_hw)]
        return (real[0][:, None] * real[1][None, :]).astype(np.float64)[None, :, :, None]


def geometry(in_hw, window, strides, dilation, padding: str) -> Geometry:
    pads, index = [], []
    for n, k, s, d in zip(in_hw, window, strides, dilation):
        pads.append(padding_amounts(n, k, s, d, padding))
        out = output_size(n, k, s, d, padding)
        index.append(np.arange(out)[:, None] * s + np.arange(k)[None, :] * d)
    return Geometry(tuple(in_hw), tuple(pads), index[0], index[1])


def _as_2d(x: A.Value) -> A.Value:
    """(N, L, C) → (N, 1, L, C); (N, H, W, C) unchanged."""
    shape = A.value(x).shape
    return x.reshape(shape[0], 1, *shape[1:]) if len(shape) == 3 else x


def _axes_2d(values) -> tuple[int, ...]:
    return (1, *values) if len(values) == 1 else tuple(values)


def _patches(x: A.Value, geo: Geometry, fill: float) -> A.Value:
    """(N, H, W, C) → (N, OH, OW, KH, KW, C), reading the input padded with the exact constant `fill`."""
    xp = A.pad(x, [(0, 0), geo.pads[0], geo.pads[1], (0, 0)], fill)
    return xp[:, geo.rows[:, None, :, None], geo.cols[None, :, None, :], :]


def _col2im(dp: A.Value, geo: Geometry) -> A.Value:
    """The input gradient of :func:`_patches`: every window's contribution summed per input cell, padding cropped."""
    n, oh, ow, kh, kw, c = A.value(dp).shape
    hp, wp = geo.padded
    bounded = isinstance(dp, A.Bounded)
    parts = [A.value(dp)] + ([dp.bound] if bounded else [])
    stacks = []
    for part in parts:
        stack = np.zeros((n, hp, wp, c, kh * kw), dtype=part.dtype)
        for i in range(kh):
            for j in range(kw):  # within one window offset the output cells read distinct input cells
                offset = stack[..., i * kw + j]  # a view
                offset[:, geo.rows[:, i][:, None], geo.cols[:, j][None, :], :] = part[:, :, :, i, j, :]
        stacks.append(stack)
    total = A.sum_(A.Bounded(stacks[0], stacks[1]) if bounded else stacks[0], axis=-1)
    (top, _), (left, _) = geo.pads
    h, w = geo.in_hw
    return total[:, top:top + h, left:left + w, :]


def _divide(s: A.Value, n: np.ndarray, mode: str) -> A.Value:
    """``s / n`` for exact counts `n`, bounded as ``s / n`` and as ``s·fl32(1/n)``."""
    if mode != "bounded":
        return s / n.astype(np.asarray(s).dtype)
    quotient = A.div(s, n)
    recip = 1.0 / n
    return A.either(quotient, A.mul(s, A.Bounded(recip, np.abs(recip.astype(np.float32).astype(np.float64) - recip))))


def _broadcast(a: A.Value, shape) -> A.Value:
    if not isinstance(a, A.Bounded):
        return np.broadcast_to(a, shape)
    return A.Bounded(np.broadcast_to(a.v, shape), None if a.e is None else np.broadcast_to(a.e, shape))


# ---------------------------------------------------------------------------
# convolution
# ---------------------------------------------------------------------------

def conv_forward(node, xs, p, ctx):
    a = node.attrs
    x = _as_2d(xs[0])
    in_shape = A.value(xs[0]).shape
    n, h, w, c = A.value(x).shape
    kernel = p["kernel"].reshape(*_axes_2d(a.kernel_size), c // a.groups, a.filters)
    geo = geometry((h, w), _axes_2d(a.kernel_size), _axes_2d(a.strides), _axes_2d(a.dilation_rate), a.padding)
    patches = _patches(x, geo, 0.0)
    _, oh, ow, kh, kw, _ = A.value(patches).shape
    cg, fg = c // a.groups, a.filters // a.groups
    rows = n * oh * ow
    blocks = [(patches[..., g * cg:(g + 1) * cg].reshape(rows, kh * kw * cg),
               kernel[..., g * fg:(g + 1) * fg].reshape(kh * kw * cg, fg)) for g in range(a.groups)]
    zs = [A.matmul(pg, kg) for pg, kg in blocks]
    z = zs[0] if a.groups == 1 else A.concatenate(zs, -1)
    if a.use_bias:
        z = z + p["bias"]
    z = z.reshape(n, *((ow,) if len(in_shape) == 3 else (oh, ow)), a.filters)
    y = activation_forward(a.activation, z, ctx.mode)
    return y, (in_shape, geo, blocks, (n, oh, ow, kh, kw, cg, fg), z, y)


def conv_backward(node, dy, cache, p, ctx, need_dx):
    a = node.attrs
    in_shape, geo, blocks, (n, oh, ow, kh, kw, cg, fg), z, y = cache
    dz = activation_backward(a.activation, z, y, dy, ctx.mode).reshape(n * oh * ow, a.filters)
    dzs = [dz[:, g * fg:(g + 1) * fg] for g in range(a.groups)]
    dks = [A.matmul(pg.T, dzg).reshape(kh, kw, cg, fg) for (pg, _), dzg in zip(blocks, dzs)]
    dk = dks[0] if a.groups == 1 else A.concatenate(dks, -1)
    grads = {"kernel": dk.reshape(*a.kernel_size, cg, a.filters)}
    if a.use_bias:
        grads["bias"] = A.sum_(dz, axis=0)
    if not need_dx[0]:
        return [None], grads
    dps = [A.matmul(dzg, kg.T).reshape(n, oh, ow, kh, kw, cg) for (_, kg), dzg in zip(blocks, dzs)]
    dp = dps[0] if a.groups == 1 else A.concatenate(dps, -1)
    return [_col2im(dp, geo).reshape(in_shape)], grads


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------

def _pool_geometry(node, x):
    a = node.attrs
    _, h, w, _ = A.value(x).shape
    window = _axes_2d(a.pool_size)
    return geometry((h, w), window, _axes_2d(a.strides), (1, 1), a.padding)


def _out_shape(in_shape, pooled_shape):
    """(N, OH, OW, C) back to the op's rank."""
    return pooled_shape if len(in_shape) == 4 else (pooled_shape[0], pooled_shape[2], pooled_shape[3])


def max_pool_forward(node, xs, p, ctx):
    x = _as_2d(xs[0])
    geo = _pool_geometry(node, x)
    patches = _patches(x, geo, -np.inf)  # a padded cell never wins
    n, oh, ow, kh, kw, c = A.value(patches).shape
    windows = A.transpose(patches, (0, 1, 2, 5, 3, 4)).reshape(n, oh, ow, c, kh * kw)
    y, route = A.max_reduce(windows, axis=-1, ties="any")
    in_shape = A.value(xs[0]).shape
    return y.reshape(_out_shape(in_shape, (n, oh, ow, c))), (in_shape, geo, route, (n, oh, ow, kh, kw, c))


def max_pool_backward(node, dy, cache, p, ctx, need_dx):
    in_shape, geo, route, (n, oh, ow, kh, kw, c) = cache
    dw = A.max_backward(dy.reshape(n, oh, ow, c), route, axis=-1).reshape(n, oh, ow, c, kh, kw)
    return [_col2im(A.transpose(dw, (0, 1, 2, 4, 5, 3)), geo).reshape(in_shape)], {}


def avg_pool_forward(node, xs, p, ctx):
    x = _as_2d(xs[0])
    geo = _pool_geometry(node, x)
    patches = _patches(x, geo, 0.0)
    n, oh, ow, kh, kw, c = A.value(patches).shape
    count = geo.count()
    y = _divide(A.sum_(patches, axis=(3, 4)), count, ctx.mode)
    in_shape = A.value(xs[0]).shape
    return y.reshape(_out_shape(in_shape, (n, oh, ow, c))), (in_shape, geo, count, (n, oh, ow, kh, kw, c))


def avg_pool_backward(node, dy, cache, p, ctx, need_dx):
    in_shape, geo, count, (n, oh, ow, kh, kw, c) = cache
    share = _divide(dy.reshape(n, oh, ow, c), count, ctx.mode).reshape(n, oh, ow, 1, 1, c)
    return [_col2im(_broadcast(share, (n, oh, ow, kh, kw, c)), geo).reshape(in_shape)], {}


# ---------------------------------------------------------------------------
# global pooling
# ---------------------------------------------------------------------------

def _rows(x: A.Value) -> tuple[A.Value, tuple[int, ...]]:
    """(N, *spatial, C) → (N, S, C) with S the number of spatial cells."""
    shape = A.value(x).shape
    return x.reshape(shape[0], -1, shape[-1]), shape


def global_max_pool_forward(node, xs, p, ctx):
    x, shape = _rows(xs[0])
    y, route = A.max_reduce(A.transpose(x, (0, 2, 1)), axis=-1)  # exact ties split evenly (reduce_max)
    return y, (shape, route)


def global_max_pool_backward(node, dy, cache, p, ctx, need_dx):
    shape, route = cache
    return [A.transpose(A.max_backward(dy, route, axis=-1), (0, 2, 1)).reshape(shape)], {}


def global_avg_pool_forward(node, xs, p, ctx):
    x, shape = _rows(xs[0])
    cells = np.full((1, 1), float(A.value(x).shape[1]))
    return _divide(A.sum_(x, axis=1), cells, ctx.mode), (shape, cells)


def global_avg_pool_backward(node, dy, cache, p, ctx, need_dx):
    shape, cells = cache
    share = _divide(dy, cells, ctx.mode).reshape(shape[0], 1, shape[-1])
    return [_broadcast(share, (shape[0], int(np.prod(shape[1:-1])), shape[-1])).reshape(shape)], {}


# ---------------------------------------------------------------------------
# zero padding, upsampling
# ---------------------------------------------------------------------------

def zero_padding_forward(node, xs, p, ctx):
    (top, bottom), (left, right) = node.attrs.padding
    shape = A.value(xs[0]).shape
    return A.pad(xs[0], [(0, 0), (top, bottom), (left, right), (0, 0)]), (top, left, shape)


def zero_padding_backward(node, dy, cache, p, ctx, need_dx):
    top, left, shape = cache
    return [dy[:, top:top + shape[1], left:left + shape[2], :]], {}


def upsampling_forward(node, xs, p, ctx):
    sh, sw = node.attrs.size
    n, h, w, c = A.value(xs[0]).shape
    blocks = _broadcast(xs[0].reshape(n, h, 1, w, 1, c), (n, h, sh, w, sw, c))
    return blocks.reshape(n, h * sh, w * sw, c), (n, h, w, c)


def upsampling_backward(node, dy, cache, p, ctx, need_dx):
    n, h, w, c = cache
    sh, sw = node.attrs.size
    blocks = A.transpose(dy.reshape(n, h, sh, w, sw, c), (0, 1, 3, 5, 2, 4)).reshape(n, h, w, c, sh * sw)
    return [A.sum_(blocks, axis=-1)], {}


SPATIAL_OPS = {
    "zero_padding2d": (zero_padding_forward, zero_padding_backward),
    "upsampling2d": (upsampling_forward, upsampling_backward),
    **{f"conv{r}d": (conv_forward, conv_backward) for r in (1, 2)},
    **{f"max_pool{r}d": (max_pool_forward, max_pool_backward) for r in (1, 2)},
    **{f"avg_pool{r}d": (avg_pool_forward, avg_pool_backward) for r in (1, 2)},
    **{f"global_max_pool{r}d": (global_max_pool_forward, global_max_pool_backward) for r in (1, 2)},
    **{f"global_avg_pool{r}d": (global_avg_pool_forward, global_avg_pool_backward) for r in (1, 2)},
}
"""Spatial op → (forward, backward), merged into :data:`dnnc.reference.ops.OPS`."""
