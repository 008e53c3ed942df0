"""LSTM and GRU in training with ``recurrent_dropout > 0``: every gate has its own masks, so every gate has its
own contractions (Keras's ``implementation = 1``, which Keras switches to in this case).

Gate g reads ``x_t·m_x[g]`` and ``h_{t−1}·m_h[g]`` (scaled keep masks, :func:`.recurrent.cell_masks`; the
input masks are absent when ``dropout = 0``); the state update uses the undropped ``h_{t−1}``.  The LSTM gate
pre-activation is one contraction ``[x_g, h_g, 1] @ [kernel_g; recurrent_kernel_g; bias_g]``; the GRU keeps
its input and recurrent projections apart, as both frameworks do.  Gradients follow the same per-gate
structure: ∂x_t = Σ_g (∂z_g·kernel_gᵀ)·m_x[g], ∂h_{t−1} = Σ_g (∂z_g·recurrent_kernel_gᵀ)·m_h[g] + the mix.
"""

from __future__ import annotations

from . import arith as A
from .activations import activation_backward, activation_forward
from .recurrent import (_input_grad, _masked, _mix, _mix_backward, _ones, _output, _output_grad, _rows, _steps,
                        _zeros, cell_masks, lstm_cell, lstm_cell_backward)


def _blocks(v, k: int) -> list:
    """The k gate blocks of the last axis."""
    return A.split(v, [A.value(v).shape[-1] // k] * k, -1)


def _with_ones(v, use_bias: bool, mode: str):
    return A.concatenate([v, _ones(A.value(v).shape[0], mode)], -1) if use_bias else v


def _gate_weights(a, p, k: int):
    """Per gate: (input weight [kernel_g; input bias_g], recurrent weight [recurrent_kernel_g; recurrent bias_g])."""
    kernels, recurrents = _blocks(p["kernel"], k), _blocks(p["recurrent_kernel"], k)
    bias = p.get("bias")
    if bias is None:
        return kernels, recurrents
    two_rows = getattr(a, "reset_after", False)
    input_bias = _blocks(bias[0] if two_rows else bias, k)
    kx = [A.concatenate([kg, bg.reshape(1, -1)], 0) for kg, bg in zip(kernels, input_bias)]
    if two_rows:
        recurrent_bias = _blocks(bias[1], k)
        return kx, [A.concatenate([ug, bg.reshape(1, -1)], 0) for ug, bg in zip(recurrents, recurrent_bias)]
    return kx, recurrents


def gated_forward(node, xs, p, ctx):
    a, x = node.attrs, xs[0]
    u, mode, lstm = a.units, ctx.mode, node.op == "lstm"
    k = 4 if lstm else 3
    rows = A.value(x).shape[0]
    mx, mh = cell_masks(node, ctx)
    wx, wh = _gate_weights(a, p, k)
    if lstm:  # one contraction per gate over [x_g, h_g, 1]
        wx = [A.concatenate([p["kernel"][:, g * u:(g + 1) * u], p["recurrent_kernel"][:, g * u:(g + 1) * u]]
                            + ([p["bias"][g * u:(g + 1) * u].reshape(1, -1)] if a.use_bias else []), 0)
              for g in range(k)]
    h, c = _zeros(rows, u, mode), _zeros(rows, u, mode)
    steps, order = _steps(node, x)
    states, cache = [], []
    for t in order:
        xg = [_masked(x[:, t, :], mx, g) for g in range(k)]
        hg = [_masked(h, mh, g) for g in range(k)]
        if lstm:
            ins = [_with_ones(A.concatenate([xg[g], hg[g]], -1), a.use_bias, mode) for g in range(k)]
            pre = tuple(A.matmul(ins[g], wx[g]) for g in range(k))
            c_prev = c
            gates, c, ac, h = lstm_cell(a, *pre, c_prev, mode)
            cache.append((t, ins, pre, gates, c_prev, c, ac))
        else:
            xa = [_with_ones(xg[g], a.use_bias, mode) for g in range(k)]
            gx = [A.matmul(xa[g], wx[g]) for g in range(k)]
            if a.reset_after:
                ha = [_with_ones(hg[g], a.use_bias, mode) for g in range(k)]
            else:
                ha = hg[:2]
            gh = [A.matmul(ha[g], wh[g]) for g in range(len(ha))]
            zp, rp = gx[0] + gh[0], gx[1] + gh[1]
            z = activation_forward(a.recurrent_activation, zp, mode)
            r = activation_forward(a.recurrent_activation, rp, mode)
            rh = None if a.reset_after else r * hg[2]
            ghh = gh[2] if a.reset_after else A.matmul(rh, wh[2])
            hp = gx[2] + r * ghh if a.reset_after else gx[2] + ghh
            hh = activation_forward(a.activation, hp, mode)
            h_prev = h
            h = _mix(z, h_prev, hh)
            cache.append((t, xa, ha, hg, h_prev, zp, rp, z, r, ghh, rh, hp, hh))
        states.append(h)
    return _output(node, states), (wx, wh, cache, (mx, mh))


def _sum(values: list):
    out = values[0]
    for v in values[1:]:
        out = out + v
    return out


def gated_backward(node, dy, cache, p, ctx, need_dx):
    a = node.attrs
    u, mode, lstm = a.units, ctx.mode, node.op == "lstm"
    k = 4 if lstm else 3
    wx, wh, steps, (mx, mh) = cache
    features = A.value(p["kernel"]).shape[0]
    rows = A.value(dy).shape[0]
    dh = _zeros(rows, u, mode)
    dc = _zeros(rows, u, mode)
    dxs: dict = {}
    x_rows: list[list] = [[] for _ in range(k)]
    dx_rows: list[list] = [[] for _ in range(k)]
    h_rows: list[list] = [[] for _ in range(k)]
    dh_rows: list[list] = [[] for _ in range(k)]
    last = len(steps) - 1
    for step in range(last, -1, -1):
        extra = _output_grad(node, dy, step, last)
        if extra is not None:
            dh = dh + extra
        if lstm:
            t, ins, pre, gates, c_prev, c, ac = steps[step]
            dz, dc = lstm_cell_backward(a, dh, dc, pre, gates, c_prev, c, ac, mode)
            dins = [A.matmul(dz[g], wx[g][: features + u].T) for g in range(k)]
            dxs[t] = _sum([_masked(dins[g][:, :features], mx, g) for g in range(k)])
            dh = _sum([_masked(dins[g][:, features:], mh, g) for g in range(k)])
            for g in range(k):
                x_rows[g].append(ins[g])
                dx_rows[g].append(dz[g])
            continue
        t, xa, ha, hg, h_prev, zp, rp, z, r, ghh, rh, hp, hh = steps[step]
        dz, dhh, dh_mix = _mix_backward(dh, z, h_prev, hh)
        dhp = activation_backward(a.activation, hp, hh, dhh, mode)
        parts = [dh_mix]
        if a.reset_after:
            dr, dgh_h = dhp * ghh, dhp * r
        else:
            drh = A.matmul(dhp, wh[2].T)
            dr = drh * hg[2]
            parts.append(_masked(drh * r, mh, 2))
            h_rows[2].append(rh)
            dh_rows[2].append(dhp)
        dzp = activation_backward(a.recurrent_activation, zp, z, dz, mode)
        drp = activation_backward(a.recurrent_activation, rp, r, dr, mode)
        dgx = [dzp, drp, dhp]
        dgh = [dzp, drp, dgh_h] if a.reset_after else [dzp, drp]
        kernels = [w[:features] for w in wx]
        dxs[t] = _sum([_masked(A.matmul(dgx[g], kernels[g].T), mx, g) for g in range(k)])
        for g in range(len(dgh)):
            parts.append(_masked(A.matmul(dgh[g], wh[g][:u].T), mh, g))
            h_rows[g].append(ha[g])
            dh_rows[g].append(dgh[g])
        for g in range(k):
            x_rows[g].append(xa[g])
            dx_rows[g].append(dgx[g])
        dh = _sum(parts)
    dwx = [A.matmul(_rows(x_rows[g]).T, _rows(dx_rows[g])) for g in range(k)]
    if lstm:
        grads = {"kernel": A.concatenate([w[:features] for w in dwx], -1),
                 "recurrent_kernel": A.concatenate([w[features: features + u] for w in dwx], -1)}
        if a.use_bias:
            grads["bias"] = A.concatenate([w[features + u] for w in dwx], -1)
        return [_input_grad(dxs) if need_dx[0] else None], grads
    dwh = [A.matmul(_rows(h_rows[g]).T, _rows(dh_rows[g])) for g in range(k)]
    grads = {"kernel": A.concatenate([w[:features] for w in dwx], -1),
             "recurrent_kernel": A.concatenate([w[:u] for w in dwh], -1)}
    if a.use_bias:
        input_bias = A.concatenate([w[features] for w in dwx], -1)
        grads["bias"] = (A.concatenate([input_bias.reshape(1, -1),
                                        A.concatenate([w[u] for w in dwh], -1).reshape(1, -1)], 0)
                         if a.reset_after else input_bias)
    return [_input_grad(dxs) if need_dx[0] else None], grads
