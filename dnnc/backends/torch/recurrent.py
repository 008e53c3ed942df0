"""torch modules of the recurrent ops (``simple_rnn``, ``lstm``, ``gru``), holding the parameters in the canonical layout.

Each module owns ``kernel`` (features, k·units), ``recurrent_kernel``
(units, k·units) and ``bias`` exactly as the IR lays them out (Keras's
layout), so get/set weights, optimizer slots and ``dnnc convert`` read and
write canonical arrays with no conversion, and autograd gives the gradient of
the canonical parameters (one LSTM bias, not torch's two).  The layout
conversion to torch's fused kernels happens in one function per op, in
``forward``:

* :func:`torch_rnn_weights` (simple RNN) and :func:`torch_lstm_weights`: gates i, f, c, o are torch's i, f, g, o (same
  order); ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``,
  ``bias_ih = bias``, ``bias_hh = 0`` (torch adds the two; Keras has one).
* :func:`torch_gru_weights` (``reset_after`` only): Keras's gate blocks z, r, h
  become torch's r, z, n; ``bias_ih = bias[0]``, ``bias_hh = bias[1]`` reordered
  the same way (Keras's reset-after GRU is torch's formulation).

Two paths, named in the module's repr (the build summary):

* **fused** — ``torch.rnn_tanh`` / ``torch.rnn_relu`` / ``torch.lstm`` /
  ``torch.gru`` (what ``nn.RNN``/``nn.LSTM``/``nn.GRU`` call) when they compute
  the spec exactly: a simple RNN with tanh or relu; tanh activation and sigmoid
  recurrent activation for LSTM and GRU, and for GRU ``reset_after = true``;
* **cell loop** — otherwise (other activations, ``reset_after = false``): the
  Keras cell written out, one step per time step.

Both start from a zero state; ``go_backwards`` flips the time axis first and
returns the states in processing order (Keras's convention).  ``bidirectional``
holds one module per direction (``forward_layer``, ``backward_layer``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .modules import _describe, activation_fn


def _gates(t: torch.Tensor, k: int) -> list[torch.Tensor]:
    return list(t.chunk(k, dim=-1))


def torch_rnn_weights(kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None) -> list[torch.Tensor]:
    """Canonical simple-RNN (or LSTM: the same gate order) parameters → torch's flat weights
    ``[weight_ih, weight_hh(, bias_ih, bias_hh)]``."""
    weights = [kernel.t(), recurrent_kernel.t()]
    if bias is not None:
        weights += [bias, torch.zeros_like(bias)]
    return weights


def torch_lstm_weights(kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None) -> list[torch.Tensor]:
    """Canonical LSTM parameters → torch's flat weights: gates i, f, c, o are torch's i, f, g, o."""
    return torch_rnn_weights(kernel, recurrent_kernel, bias)


def _keras_to_torch_gru(t: torch.Tensor) -> torch.Tensor:
    """Gate blocks on the last axis: Keras z, r, h → torch r, z, n."""
    z, r, h = _gates(t, 3)
    return torch.cat([r, z, h], dim=-1)


def torch_gru_weights(kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None) -> list[torch.Tensor]:
    """Canonical reset-after GRU parameters → torch's flat weights ``[weight_ih, weight_hh(, bias_ih, bias_hh)]``."""
    weights = [_keras_to_torch_gru(kernel).t(), _keras_to_torch_gru(recurrent_kernel).t()]
    if bias is not None:
        weights += [_keras_to_torch_gru(bias[0]), _keras_to_torch_gru(bias[1])]
    return weights


def _drop(v: torch.Tensor, masks: list | None, g: int = 0) -> torch.Tensor:
    """`v` (batch, n) or a sequence (batch, steps, n) times gate g's mask (a shared mask: the only one)."""
    if masks is None:
        return v
    m = masks[g if len(masks) > 1 else 0]
    return v * (m[:, None, :] if v.dim() == 3 else m)


def _project(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return x @ kernel if bias is None else x @ kernel + bias


def _is(act: Any, kind: str) -> bool:
    return act.type == kind


class Recurrent(nn.Module):
    """Base of :class:`Lstm` and :class:`Gru`: canonical parameters, the time loop conventions, the repr."""

    gates = 1
    op = ""

    def __init__(self, features: int, attrs: Any, bias_shape: tuple[int, ...], mask_prefix: str = "",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        u = attrs.units
        self.units, self.attrs = u, attrs
        #: the keys of this cell's dropout masks start with it (dnnc.compiler.recurrent_ops.recurrent_mask_sites)
        self.mask_prefix, self.generator = mask_prefix, generator
        self.kernel = nn.Parameter(torch.zeros(features, self.gates * u))
        self.recurrent_kernel = nn.Parameter(torch.zeros(u, self.gates * u))
        self.bias = nn.Parameter(torch.zeros(bias_shape)) if attrs.use_bias else None
        self.act = activation_fn(attrs.activation)
        gated = hasattr(attrs, "recurrent_activation")
        self.recurrent_act = activation_fn(attrs.recurrent_activation) if gated else None
        self.fused = _is(attrs.activation, "tanh") and (not gated or _is(attrs.recurrent_activation, "sigmoid"))

    def forward(self, x: torch.Tensor, masks: Any = None) -> torch.Tensor:
        """`masks`: every dnnc-drawn mask of the step (key → keep mask) or None (this cell draws its own)."""
        a = self.attrs
        if a.go_backwards:
            x = x.flip(1)
        if self.training and (a.dropout > 0 or a.recurrent_dropout > 0):  # per-sequence masks: the cell loop
            states, last = self._loop(x, *self._masks(x, masks))
        else:
            states, last = self._fused(x) if self.fused else self._loop(x)
        return states if a.return_sequences else last

    def _mask_sites(self, features: int) -> tuple[tuple[str, float, tuple[int, int]], ...]:
        """(kind, rate, mask shape without the batch axis) of the input and the state masks."""
        a = self.attrs
        per_gate = self.gates if a.recurrent_dropout > 0 else 1
        return (("dropout", a.dropout, (per_gate, features)),
                ("recurrent_dropout", a.recurrent_dropout, (self.gates, self.units)))

    def _draw(self, batch: int, shape: tuple[int, int], rate: float, dtype: torch.dtype,
              device: torch.device) -> torch.Tensor:
        """A keep mask (1 kept, 0 dropped) of shape (batch, *shape), drawn from the model's generator."""
        return (torch.rand((batch, *shape), generator=self.generator, dtype=dtype, device=device) >= rate).to(dtype)

    def draw_masks(self, batch: int, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
        """Every keep mask a training step of this cell draws, in the order it draws them (key → mask): what
        :meth:`forward` draws itself when given none (a compiled step draws them before the compiled code)."""
        return {self.mask_prefix + kind: self._draw(batch, shape, rate, dtype, device)
                for kind, rate, shape in self._mask_sites(self.kernel.shape[0]) if rate > 0}

    def _masks(self, x: torch.Tensor, given: Any) -> tuple[list | None, list | None]:
        """(input masks, state masks), each a list of (batch, n) scaled keep masks keep/(1 − rate), one per gate
        or one shared; dnnc's when given, else drawn from the model's generator."""
        out: list = []
        for kind, rate, shape in self._mask_sites(x.shape[-1]):
            if rate <= 0:
                out.append(None)
                continue
            key = self.mask_prefix + kind
            if given is not None and key in given:
                keep = given[key].to(x.dtype)
            else:
                keep = self._draw(x.shape[0], shape, rate, x.dtype, x.device)
            scaled = keep / (1.0 - rate)
            out.append([scaled[:, g] for g in range(scaled.shape[1])])
        return out[0], out[1]

    def _zero_state(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.units)

    def extra_repr(self) -> str:
        a = self.attrs
        path = f"fused torch.{self.fused_op}" if self.fused else "cell loop"
        if self.fused and (a.dropout > 0 or a.recurrent_dropout > 0):
            path += " (cell loop in training: dropout)"
        gates = (f"recurrent_activation={_describe(a.recurrent_activation)}, " if self.recurrent_act is not None
                 else "")
        return (f"{self.kernel.shape[0]}, {self.units}, path={path}, activation={_describe(a.activation)}, {gates}"
                f"return_sequences={a.return_sequences}, go_backwards={a.go_backwards}")

    @property
    def fused_op(self) -> str:
        return self.op


class SimpleRnn(Recurrent):
    """The IR's ``simple_rnn`` (Keras's SimpleRNN)."""

    gates, op = 1, "simple_rnn"

    def __init__(self, features: int, attrs: Any, **kw: Any) -> None:
        super().__init__(features, attrs, (attrs.units,), **kw)
        self.fused = attrs.activation.type in ("tanh", "relu")

    @property
    def fused_op(self) -> str:
        return f"rnn_{self.attrs.activation.type}"

    def _fused(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h0 = self._zero_state(x)[None]
        weights = torch_rnn_weights(self.kernel, self.recurrent_kernel, self.bias)
        run = torch.rnn_tanh if self.attrs.activation.type == "tanh" else torch.rnn_relu
        out, h = run(x, h0, weights, self.bias is not None, 1, 0.0, self.training, False, True)
        return out, h[0]

    def _loop(self, x: torch.Tensor, mx: list | None = None, mh: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        projected = _project(_drop(x, mx), self.kernel, self.bias)
        h = self._zero_state(x)
        states = []
        for t in range(x.shape[1]):
            h = self.act(projected[:, t] + _drop(h, mh) @ self.recurrent_kernel)
            states.append(h)
        return torch.stack(states, 1), h


class Lstm(Recurrent):
    """The IR's ``lstm`` (Keras's LSTM formulas)."""

    gates, op = 4, "lstm"

    def __init__(self, features: int, attrs: Any, **kw: Any) -> None:
        super().__init__(features, attrs, (4 * attrs.units,), **kw)

    def _fused(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h0 = self._zero_state(x)[None]
        weights = torch_lstm_weights(self.kernel, self.recurrent_kernel, self.bias)
        out, h, _ = torch.lstm(x, (h0, h0), weights, self.bias is not None, 1, 0.0, self.training, False, True)
        return out, h[0]

    def _loop(self, x: torch.Tensor, mx: list | None = None, mh: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if mh is None:  # one input mask (or none) shared by the gates: one projection
            projected = [_project(_drop(x, mx), self.kernel, self.bias)]
        else:  # recurrent dropout: gate by gate (Keras's implementation 1)
            kernels, biases = _gates(self.kernel, 4), _gates(self.bias, 4) if self.bias is not None else [None] * 4
            projected = [_project(_drop(x, mx, g), kernels[g], biases[g]) for g in range(4)]
            recurrents = _gates(self.recurrent_kernel, 4)
        h = c = self._zero_state(x)
        states = []
        for t in range(x.shape[1]):
            if mh is None:
                zi, zf, zc, zo = _gates(projected[0][:, t] + h @ self.recurrent_kernel, 4)
            else:
                zi, zf, zc, zo = (projected[g][:, t] + (h * mh[g]) @ recurrents[g] for g in range(4))
            c = self.recurrent_act(zf) * c + self.recurrent_act(zi) * self.act(zc)
            h = self.recurrent_act(zo) * self.act(c)
            states.append(h)
        return torch.stack(states, 1), h


class Gru(Recurrent):
    """The IR's ``gru`` (Keras's GRU formulas, both variants)."""

    gates, op = 3, "gru"

    def __init__(self, features: int, attrs: Any, **kw: Any) -> None:
        u = attrs.units
        super().__init__(features, attrs, (2, 3 * u) if attrs.reset_after else (3 * u,), **kw)
        self.fused = self.fused and attrs.reset_after

    def _fused(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h0 = self._zero_state(x)[None]
        weights = torch_gru_weights(self.kernel, self.recurrent_kernel, self.bias)
        out, h = torch.gru(x, h0, weights, self.bias is not None, 1, 0.0, self.training, False, True)
        return out, h[0]

    def _loop(self, x: torch.Tensor, mx: list | None = None, mh: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        u, reset_after = self.units, self.attrs.reset_after
        input_bias = None if self.bias is None else (self.bias[0] if reset_after else self.bias)
        recurrent_bias = self.bias[1] if self.bias is not None and reset_after else None
        if mh is None:  # one input mask (or none) shared by the gates
            gx_all = _gates(_project(_drop(x, mx), self.kernel, input_bias), 3)
        else:  # recurrent dropout: gate by gate (Keras's implementation 1)
            biases = _gates(input_bias, 3) if input_bias is not None else [None] * 3
            gx_all = [_project(_drop(x, mx, g), k, b) for g, (k, b) in enumerate(zip(_gates(self.kernel, 3), biases))]
        recurrents = _gates(self.recurrent_kernel, 3)
        recurrent_biases = _gates(recurrent_bias, 3) if recurrent_bias is not None else [None] * 3
        h = self._zero_state(x)
        states = []
        for t in range(x.shape[1]):
            gxz, gxr, gxh = (g[:, t] for g in gx_all)
            hs = [h] * 3 if mh is None else [h * m for m in mh]
            if mh is None and reset_after:
                ghz, ghr, ghh = _gates(_project(h, self.recurrent_kernel, recurrent_bias), 3)
            elif mh is None:
                ghz, ghr = _gates(h @ self.recurrent_kernel[:, : 2 * u], 2)
            else:
                ghz, ghr = (_project(hs[g], recurrents[g], recurrent_biases[g]) for g in range(2))
                if reset_after:
                    ghh = _project(hs[2], recurrents[2], recurrent_biases[2])
            z, r = self.recurrent_act(gxz + ghz), self.recurrent_act(gxr + ghr)
            recurrent_h = r * ghh if reset_after else (r * hs[2]) @ recurrents[2]
            h = z * h + (1 - z) * self.act(gxh + recurrent_h)
            states.append(h)
        return torch.stack(states, 1), h


CELL_MODULES = {"simple_rnn": SimpleRnn, "lstm": Lstm, "gru": Gru}


class Bidirectional(nn.Module):
    """The IR's ``bidirectional``: two modules of the wrapped op (``forward``, ``backward``: go_backwards), the
    backward states flipped back to time order when they are a sequence, then merged (Keras's Bidirectional)."""

    def __init__(self, features: int, attrs: Any, mask_prefix: str = "", generator: torch.Generator | None = None) -> None:
        super().__init__()
        from ...compiler.recurrent_ops import direction_attrs

        cell = CELL_MODULES[attrs.layer]
        self.merge_mode, self.sequences = attrs.merge_mode, attrs.cell.return_sequences
        self.forward_layer, self.backward_layer = (
            cell(features, direction_attrs(attrs, d), mask_prefix=f"{mask_prefix}{d}_", generator=generator)
            for d in ("forward", "backward"))

    def draw_masks(self, batch: int, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
        """Both directions' keep masks, in the order a training step draws them (forward, then backward)."""
        return {**self.forward_layer.draw_masks(batch, dtype, device),
                **self.backward_layer.draw_masks(batch, dtype, device)}

    def forward(self, x: torch.Tensor, masks: Any = None) -> torch.Tensor:
        yf, yb = self.forward_layer(x, masks), self.backward_layer(x, masks)
        if self.sequences:
            yb = yb.flip(1)
        if self.merge_mode == "concat":
            return torch.cat([yf, yb], dim=-1)
        if self.merge_mode == "sum":
            return yf + yb
        if self.merge_mode == "mul":
            return yf * yb
        return (yf + yb) / 2

    def extra_repr(self) -> str:
        return f"merge_mode={self.merge_mode}"


class Embedding(nn.Module):
    """The IR's ``embedding``: ``weight`` is the canonical (input_dim, output_dim) table, indexed by int64 ids."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(input_dim, output_dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(ids, self.weight)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"


RECURRENT_MODULES = {**CELL_MODULES, "bidirectional": Bidirectional}
