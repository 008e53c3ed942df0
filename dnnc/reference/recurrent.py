"""The reference's recurrent ops (``simple_rnn``, ``lstm``, ``gru``): the recurrence and backpropagation through time.

Formulas are the op definitions (:mod:`dnnc.compiler.recurrent_ops`),
written with :mod:`dnnc.reference.arith`, so the bounded mode carries every
float32 error through the steps.  Where frameworks sum differently, the
formula bounds every order:

* simple RNN and LSTM pre-activations are one contraction ``[x_t, h_{t−1}, 1] @ [kernel;
  recurrent_kernel; bias]``: Keras adds ``x·K``, ``h·U`` and the bias in turn,
  torch ``x·W_ih + b_ih`` and ``h·W_hh + b_hh``; the bound of a contraction
  holds for any summation order of its terms.
* GRU keeps its two projections ``gx`` and ``gh`` (both frameworks add them
  after computing each), and the state update is bounded for Keras's
  ``z·h + (1 − z)·ĥ`` and torch's ``ĥ + z·(h − ĥ)`` (:func:`either`).
* Parameter gradients are one contraction over every (sample, step) row, which
  bounds a per-step accumulation as well.

Initial states are zero; ``go_backwards`` processes the steps from last to
first and emits the states in processing order.  ``bidirectional`` runs the
wrapped op's functions once per direction on its prefixed parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import arith as A
from .activations import activation_backward, activation_forward
from .ops import Pass, either


def _steps(node, x) -> tuple[int, list[int]]:
    steps = A.value(x).shape[1]
    order = list(range(steps))
    return steps, order[::-1] if node.attrs.go_backwards else order


def _ones(rows: int, mode: str) -> A.Value:
    return A.array(np.ones((rows, 1)), mode)


def _stack(values: list, axis: int = 1) -> A.Value:
    """(batch, n) values → (batch, steps, n) along `axis`."""
    return A.concatenate([v.reshape(A.value(v).shape[0], 1, -1) for v in values], axis)


def _output(node, states: list) -> A.Value:
    return _stack(states) if node.attrs.return_sequences else states[-1]


def _output_grad(node, dy, k: int, last: int):
    """∂L/∂h of processing step k from the op's output."""
    if node.attrs.return_sequences:
        return dy[:, k, :]
    return dy if k == last else None


def _input_grad(dxs: dict[int, A.Value]) -> A.Value:
    return _stack([dxs[t] for t in range(len(dxs))])


def _rows(values: list) -> A.Value:
    return A.concatenate(values, 0)


def _zeros(rows: int, units: int, mode: str) -> A.Value:
    return A.array(np.zeros((rows, units)), mode)


# ---------------------------------------------------------------------------
# simple RNN and LSTM: pre-activations [x_t, h_{t−1}, 1] @ [kernel; recurrent_kernel; bias]
# ---------------------------------------------------------------------------

def cell_masks(node, ctx) -> tuple[list | None, list | None]:
    """The scaled keep masks m/(1 − rate) of one recurrent cell in a training pass: (input masks, state masks),
    each a list of (batch, n) values (one per gate, or one shared), or None (inference, rate 0)."""
    a = node.attrs
    if not ctx.training:
        return None, None
    prefix = getattr(node, "mask_prefix", node.name + "/")
    out: list = []
    for kind, rate in (("dropout", a.dropout), ("recurrent_dropout", a.recurrent_dropout)):
        if rate <= 0:
            out.append(None)
            continue
        keep = ctx.masks.get(prefix + kind)
        if keep is None:
            raise ValueError(f"the reference needs the mask {prefix + kind!r} in training mode (it draws no random "
                             "numbers)")
        keep = np.asarray(keep)
        scale = 1.0 / (1.0 - A.const(rate, ctx.mode))
        out.append([A.array(keep[:, g, :], ctx.mode) * scale for g in range(keep.shape[1])])
    return out[0], out[1]


def _masked(v, masks: list | None, g: int = 0):
    return v if masks is None else v * masks[g]


def _stacked_weights(a, p) -> A.Value:
    blocks = [p["kernel"], p["recurrent_kernel"]]
    if a.use_bias:
        blocks.append(p["bias"].reshape(1, -1))
    return A.concatenate(blocks, 0)


def _step_input(a, x, t: int, h, rows: int, mode: str, mx=None, mh=None) -> A.Value:
    """[x_t·m_x, h·m_h, 1] (masks shared by every gate; None: not dropped)."""
    parts = [_masked(x[:, t, :], mx), _masked(h, mh)]
    return A.concatenate(parts + ([_ones(rows, mode)] if a.use_bias else []), -1)


def _stacked_grads(a, xins: list, dzs: list, features: int) -> dict[str, A.Value]:
    """∂kernel, ∂recurrent_kernel, ∂bias: one contraction over every (sample, step) row."""
    dw = A.matmul(_rows(xins).T, _rows(dzs))
    grads = {"kernel": dw[:features], "recurrent_kernel": dw[features: features + a.units]}
    if a.use_bias:
        grads["bias"] = dw[features + a.units]
    return grads


def simple_rnn_forward(node, xs, p, ctx):
    a, x = node.attrs, xs[0]
    mode, rows = ctx.mode, A.value(x).shape[0]
    w = _stacked_weights(a, p)
    h = _zeros(rows, a.units, mode)
    mx, mh = cell_masks(node, ctx)
    steps, order = _steps(node, x)
    states, cache = [], []
    for t in order:
        xin = _step_input(a, x, t, h, rows, mode, mx, mh)
        z = A.matmul(xin, w)
        h = activation_forward(a.activation, z, mode)
        states.append(h)
        cache.append((t, xin, z, h))
    return _output(node, states), (w, cache, (mx, mh))


def simple_rnn_backward(node, dy, cache, p, ctx, need_dx):
    a = node.attrs
    w, steps, (mx, mh) = cache
    features = A.value(p["kernel"]).shape[0]
    w_in = w[: features + a.units].T
    dh = _zeros(A.value(steps[0][1]).shape[0], a.units, ctx.mode)
    dxs, xins, dzs = {}, [], []
    last = len(steps) - 1
    for k in range(last, -1, -1):
        t, xin, z, h = steps[k]
        extra = _output_grad(node, dy, k, last)
        if extra is not None:
            dh = dh + extra
        dz = activation_backward(a.activation, z, h, dh, ctx.mode)
        dxin = A.matmul(dz, w_in)
        dxs[t], dh = _masked(dxin[:, :features], mx), _masked(dxin[:, features:], mh)
        xins.append(xin)
        dzs.append(dz)
    return [_input_grad(dxs) if need_dx[0] else None], _stacked_grads(a, xins, dzs, features)


def _per_gate_with_recurrent_dropout(name: str):
    """In training with recurrent dropout, LSTM and GRU compute gate by gate (:mod:`.recurrent_dropout`)."""
    def wrap(fn):
        def op(node, *args):
            ctx = next(arg for arg in args if isinstance(arg, Pass))
            if ctx.training and node.attrs.recurrent_dropout > 0:
                from . import recurrent_dropout

                return getattr(recurrent_dropout, name)(node, *args)
            return fn(node, *args)

        op.__name__, op.__doc__ = fn.__name__, fn.__doc__
        return op

    return wrap


def lstm_cell(a, zi, zf, zc, zo, c_prev, mode: str):
    """The LSTM update from the gate pre-activations: (i, f, g, o), c_t, φ(c_t), h_t."""
    i, f, o = (activation_forward(a.recurrent_activation, z, mode) for z in (zi, zf, zo))
    g = activation_forward(a.activation, zc, mode)
    c = f * c_prev + i * g
    ac = activation_forward(a.activation, c, mode)
    return (i, f, g, o), c, ac, o * ac


def lstm_cell_backward(a, dh, dc, pre, gates, c_prev, c, ac, mode: str):
    """(∂ of the four pre-activations, ∂c_{t−1}) from ∂h_t and ∂c_t (the part from step t + 1)."""
    zi, zf, zc, zo = pre
    i, f, g, o = gates
    do = dh * ac
    dc = dc + activation_backward(a.activation, c, ac, dh * o, mode)
    df, di, dg = dc * c_prev, dc * g, dc * i
    dz = [activation_backward(a.recurrent_activation, zi, i, di, mode),
          activation_backward(a.recurrent_activation, zf, f, df, mode),
          activation_backward(a.activation, zc, g, dg, mode),
          activation_backward(a.recurrent_activation, zo, o, do, mode)]
    return dz, dc * f


@_per_gate_with_recurrent_dropout("gated_forward")
def lstm_forward(node, xs, p, ctx):
    a, x = node.attrs, xs[0]
    u, mode = a.units, ctx.mode
    rows = A.value(x).shape[0]
    w = _stacked_weights(a, p)
    h, c = _zeros(rows, u, mode), _zeros(rows, u, mode)
    mx, _ = cell_masks(node, ctx)  # without recurrent dropout: one input mask shared by the gates
    steps, order = _steps(node, x)
    states, cache = [], []
    for t in order:
        xin = _step_input(a, x, t, h, rows, mode, mx)
        pre = tuple(A.split(A.matmul(xin, w), [u] * 4, -1))
        c_prev = c
        gates, c, ac, h = lstm_cell(a, *pre, c_prev, mode)
        states.append(h)
        cache.append((t, xin, pre, gates, c_prev, c, ac))
    return _output(node, states), (w, cache, mx)


@_per_gate_with_recurrent_dropout("gated_backward")
def lstm_backward(node, dy, cache, p, ctx, need_dx):
    a = node.attrs
    u, mode = a.units, ctx.mode
    w, steps, mx = cache
    features = A.value(p["kernel"]).shape[0]
    w_in = w[: features + u].T
    rows = A.value(steps[0][1]).shape[0]
    dh, dc = _zeros(rows, u, mode), _zeros(rows, u, mode)
    dxs, xins, dzs = {}, [], []
    last = len(steps) - 1
    for k in range(last, -1, -1):
        t, xin, pre, gates, c_prev, c, ac = steps[k]
        extra = _output_grad(node, dy, k, last)
        if extra is not None:
            dh = dh + extra
        dz, dc = lstm_cell_backward(a, dh, dc, pre, gates, c_prev, c, ac, mode)
        dz = A.concatenate(dz, -1)
        dxin = A.matmul(dz, w_in)
        dxs[t], dh = _masked(dxin[:, :features], mx), dxin[:, features:]
        xins.append(xin)
        dzs.append(dz)
    return [_input_grad(dxs) if need_dx[0] else None], _stacked_grads(a, xins, dzs, features)


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------

def _with_bias(x, use_bias: bool, mode: str) -> A.Value:
    """[x, 1] (or x): the left operand of a projection whose weight carries the bias as its last row."""
    return A.concatenate([x, _ones(A.value(x).shape[0], mode)], -1) if use_bias else x


def _gru_projections(a, p) -> tuple[A.Value, A.Value | None]:
    """[kernel; input bias] and, with reset_after, [recurrent_kernel; recurrent bias]."""
    kernel, recurrent = p["kernel"], p["recurrent_kernel"]
    if not a.use_bias:
        return kernel, recurrent
    bias = p["bias"]
    if a.reset_after:
        return (A.concatenate([kernel, bias[0].reshape(1, -1)], 0),
                A.concatenate([recurrent, bias[1].reshape(1, -1)], 0))
    return A.concatenate([kernel, bias.reshape(1, -1)], 0), recurrent


def _mix(z, h_prev, hh):
    """h_t: Keras's z·h + (1 − z)·ĥ, bounded with torch's ĥ + z·(h − ĥ)."""
    return either(z * h_prev + (1.0 - z) * hh, hh + z * (h_prev - hh))


def _mix_backward(dh, z, h_prev, hh):
    """(∂z, ∂ĥ, ∂h_{t−1} through the mix), bounded for both formulas of ∂z."""
    dz = either(dh * h_prev - dh * hh, dh * (h_prev - hh))
    return dz, dh * (1.0 - z), dh * z


@_per_gate_with_recurrent_dropout("gated_forward")
def gru_forward(node, xs, p, ctx):
    a, x = node.attrs, xs[0]
    u, mode = a.units, ctx.mode
    rows = A.value(x).shape[0]
    wx, wh = _gru_projections(a, p)
    h = _zeros(rows, u, mode)
    mx, _ = cell_masks(node, ctx)  # without recurrent dropout: one input mask shared by the gates
    steps, order = _steps(node, x)
    states, cache = [], []
    for t in order:
        xa = _with_bias(_masked(x[:, t, :], mx), a.use_bias, mode)
        gxz, gxr, gxh = A.split(A.matmul(xa, wx), [u] * 3, -1)
        if a.reset_after:
            ha = _with_bias(h, a.use_bias, mode)
            ghz, ghr, ghh = A.split(A.matmul(ha, wh), [u] * 3, -1)
        else:
            ha = h
            ghz, ghr = A.split(A.matmul(h, wh[:, : 2 * u]), [u, u], -1)
        zp, rp = gxz + ghz, gxr + ghr
        z = activation_forward(a.recurrent_activation, zp, mode)
        r = activation_forward(a.recurrent_activation, rp, mode)
        if a.reset_after:
            rh = None
            hp = gxh + r * ghh
        else:
            rh = r * h
            ghh = A.matmul(rh, wh[:, 2 * u:])
            hp = gxh + ghh
        hh = activation_forward(a.activation, hp, mode)
        h_prev = h
        h = _mix(z, h_prev, hh)
        states.append(h)
        cache.append((t, xa, ha, h_prev, zp, rp, z, r, ghh, rh, hp, hh))
    return _output(node, states), (wx, wh, cache, mx)


@_per_gate_with_recurrent_dropout("gated_backward")
def gru_backward(node, dy, cache, p, ctx, need_dx):
    a = node.attrs
    u, mode = a.units, ctx.mode
    wx, wh, steps, mx = cache
    features = A.value(p["kernel"]).shape[0]
    kernel_t, recurrent = p["kernel"].T, p["recurrent_kernel"]
    rows = A.value(steps[0][1]).shape[0]
    dh = _zeros(rows, u, mode)
    dxs: dict[int, Any] = {}
    xas, dgxs, has, dghs, rhs, dhps = [], [], [], [], [], []
    last = len(steps) - 1
    for k in range(last, -1, -1):
        t, xa, ha, h_prev, zp, rp, z, r, ghh, rh, hp, hh = steps[k]
        extra = _output_grad(node, dy, k, last)
        if extra is not None:
            dh = dh + extra
        dz, dhh, dh_prev = _mix_backward(dh, z, h_prev, hh)
        dhp = activation_backward(a.activation, hp, hh, dhh, mode)
        if a.reset_after:
            dr = dhp * ghh
            dghh = dhp * r
        else:
            drh = A.matmul(dhp, recurrent[:, 2 * u:].T)
            dr = drh * h_prev
            dh_prev = dh_prev + drh * r
        dzp = activation_backward(a.recurrent_activation, zp, z, dz, mode)
        drp = activation_backward(a.recurrent_activation, rp, r, dr, mode)
        dgx = A.concatenate([dzp, drp, dhp], -1)
        if a.reset_after:
            dgh = A.concatenate([dzp, drp, dghh], -1)
            dh = dh_prev + A.matmul(dgh, recurrent.T)
        else:
            dgh = A.concatenate([dzp, drp], -1)
            dh = dh_prev + A.matmul(dgh, recurrent[:, : 2 * u].T)
            rhs.append(rh)
            dhps.append(dhp)
        if need_dx[0]:
            dxs[t] = _masked(A.matmul(dgx, kernel_t), mx)
        xas.append(xa)
        dgxs.append(dgx)
        has.append(ha)
        dghs.append(dgh)
    dwx = A.matmul(_rows(xas).T, _rows(dgxs))
    dwh = A.matmul(_rows(has).T, _rows(dghs))
    grads = {"kernel": dwx[:features]}
    if a.reset_after:
        grads["recurrent_kernel"] = dwh[:u]
    else:
        grads["recurrent_kernel"] = A.concatenate([dwh, A.matmul(_rows(rhs).T, _rows(dhps))], -1)
    if a.use_bias:
        grads["bias"] = (A.concatenate([dwx[features:], dwh[u:]], 0) if a.reset_after else dwx[features])
    return [_input_grad(dxs) if need_dx[0] else None], grads


RECURRENT_OPS = {
    "simple_rnn": (simple_rnn_forward, simple_rnn_backward),
    "lstm": (lstm_forward, lstm_backward),
    "gru": (gru_forward, gru_backward),
}
"""IR op → (forward, backward) of the recurrent ops."""


# ---------------------------------------------------------------------------
# bidirectional
# ---------------------------------------------------------------------------

class _Direction:
    """The wrapped op of one direction, as the op functions above see a node."""

    def __init__(self, node, direction: str) -> None:
        from ..compiler.recurrent_ops import direction_attrs

        self.name, self.op, self.attrs = node.name, node.attrs.layer, direction_attrs(node.attrs, direction)
        self.prefix = direction + "_"
        self.mask_prefix = f"{node.name}/{direction}_"  # its dropout sites (dnnc.compiler.recurrent_ops)

    def params(self, p) -> dict:
        return {k[len(self.prefix):]: v for k, v in p.items() if k.startswith(self.prefix)}


def _directions(node) -> list[_Direction]:
    return [_Direction(node, d) for d in ("forward", "backward")]


def _time_flip(y):
    return y[:, ::-1, :]


def bidirectional_forward(node, xs, p, ctx):
    a = node.attrs
    ys, caches = [], []
    for d in _directions(node):
        y, cache = RECURRENT_OPS[d.op][0](d, xs, d.params(p), ctx)
        ys.append(y)
        caches.append(cache)
    yf, yb = ys
    if a.cell.return_sequences:
        yb = _time_flip(yb)
    merged = {"concat": lambda: A.concatenate([yf, yb], -1), "sum": lambda: yf + yb, "mul": lambda: yf * yb,
              "ave": lambda: (yf + yb) / 2.0}[a.merge_mode]()
    return merged, (yf, yb, caches)


def bidirectional_backward(node, dy, cache, p, ctx, need_dx):
    a = node.attrs
    yf, yb, caches = cache
    if a.merge_mode == "concat":
        dyf, dyb = A.split(dy, [a.cell.units, a.cell.units], -1)
    elif a.merge_mode == "sum":
        dyf = dyb = dy
    elif a.merge_mode == "ave":
        dyf = dyb = dy / 2.0
    else:
        dyf, dyb = dy * yb, dy * yf
    if a.cell.return_sequences:
        dyb = _time_flip(dyb)
    dx, grads = None, {}
    for d, dyd, c in zip(_directions(node), (dyf, dyb), caches):
        dxs, g = RECURRENT_OPS[d.op][1](d, dyd, c, d.params(p), ctx, need_dx)
        grads.update({d.prefix + k: v for k, v in g.items()})
        if dxs[0] is not None:
            dx = dxs[0] if dx is None else dx + dxs[0]
    return [dx], grads


RECURRENT_OPS["bidirectional"] = (bidirectional_forward, bidirectional_backward)


# ---------------------------------------------------------------------------
# embedding
# ---------------------------------------------------------------------------

def embedding_forward(node, xs, p, ctx):
    ids = np.asarray(A.value(xs[0])).astype(np.int64)
    return p["embeddings"][ids], ids


def embedding_backward(node, dy, ids, p, ctx, need_dx):
    """∂row = Σ ∂y over the tokens reading the row: a sum of count terms per row (its own bound)."""
    rows, width = A.value(p["embeddings"]).shape
    flat = ids.reshape(-1)
    dy2 = dy.reshape(flat.size, width)
    value = np.zeros((rows, width), dtype=np.float64 if isinstance(dy2, A.Bounded) else A.value(dy2).dtype)
    np.add.at(value, flat, A.value(dy2))
    if not isinstance(dy2, A.Bounded):
        return [None], {"embeddings": value}
    magnitude, squares, live = np.zeros((rows, width)), np.zeros((rows, width)), np.zeros((rows, width))
    np.add.at(magnitude, flat, np.abs(dy2.v))
    np.add.at(squares, flat, np.square(dy2.bound))
    np.add.at(live, flat, (dy2.v != 0) | (dy2.bound > 0))
    return [None], {"embeddings": A.Bounded(value, A.gamma(live) * magnitude + np.sqrt(squares))}


RECURRENT_OPS["embedding"] = (embedding_forward, embedding_backward)
