"""One emitter per IR op for the ejected PyTorch module (like the torch backend's converters).

An emitter receives the node and the :class:`~dnnc.eject.context.EjectContext`
and returns a :class:`TorchNode` (each line either laid out at the body's
indentation, two levels, e.g. by :func:`~dnnc.eject.code.call`, or a bare
statement or ``#`` comment that the module lays out there): the statements of ``Model.__init__`` that create
the node's module and initialise its parameters, the statements of
``Model.forward`` that compute the node's value (a variable named by
``ctx.var(node.name)``), and how each canonical parameter maps onto a torch tensor
(for ``load_canonical_weights``).  Semantics are those of
:mod:`dnnc.backends.torch.modules` and :mod:`dnnc.backends.torch.spatial`; every
hyperparameter is written out.  The spatial ops see channels-last tensors, as the
IR describes them, and permute to torch's channels-first layout around each torch
kernel; TensorFlow's ``same`` padding is written as numbers
(:func:`~dnnc.compiler.ops_spatial.padding_amounts`), symmetric padding given
to the kernel, asymmetric padding as an explicit ``F.pad``.  The recurrent ops follow
:mod:`dnnc.backends.torch.recurrent`: torch's fused ``nn.RNN``/``nn.LSTM``/``nn.GRU``
where they compute Keras's cell exactly (:func:`recurrent_is_fused`; the canonical
weights converted in ``load_canonical_weights``: transposed, a GRU's gate blocks
reordered, its two bias rows split), else an explicit cell loop on the canonical
parameters (``KerasLSTM``… in :mod:`.torch_support`).

To add an op: write ``emit_<op>(node, ctx) -> TorchNode`` and register it in
:data:`EMITTERS` (docs/export.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..compiler.initial_weights import compute_fans
from ..compiler.ir import NodeIR, ParamIR
from ..compiler.ops import MERGE_OPS
from ..compiler.ops_spatial import padding_amounts
from .code import INDENT, LINE_LENGTH, call, kw, py
from .context import EjectContext, EjectError

FAMILIES = {"glorot": (1.0, "fan_avg"), "he": (2.0, "fan_in"), "lecun": (1.0, "fan_in")}


@dataclass
class TorchWeight:
    """Canonical parameter → the torch tensor holding it: ``model.<attribute>``, stored in torch's kernel
    layout (:func:`dnnc.backends.torch.layout.to_torch`: a dense kernel transposed, a convolution kernel
    (*window, in/groups, filters) as (filters, in/groups, *window)) or as it is."""

    param: str
    attribute: str
    transposed: bool = False
    #: a GRU array held by a fused nn.GRU: its gate blocks reordered Keras z, r, h → torch r, z, n (last axis,
    #: before transposing)
    gru_gates: bool = False
    #: the tensor holds this row of the canonical array only (a reset-after GRU's bias: 0 input, 1 recurrent)
    row: int | None = None


@dataclass
class TorchNode:
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    weights: list[TorchWeight] = field(default_factory=list)
    #: dropout mask key (:func:`dnnc.compiler.dropout_sites.dropout_sites`, e.g. ``lstm/recurrent_dropout``) → the
    #: ``SequenceDropout`` module drawing it (``model.<attribute>``), for the tests that put dnnc's masks in
    masks: dict[str, str] = field(default_factory=dict)


def gru_gates_to_torch(a: Any) -> Any:
    """NumPy: Keras's GRU gate blocks z, r, h on the last axis in torch's order r, z, n (the ejected snippet)."""
    import numpy as np

    z, r, h = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def gru_gates_to_keras(a: Any) -> Any:
    """The inverse of :func:`gru_gates_to_torch`: torch's r, z, n blocks in Keras's order z, r, h."""
    import numpy as np

    r, z, h = np.split(a, 3, axis=-1)
    return np.concatenate([z, r, h], axis=-1)


def canonical_array(weights: list[TorchWeight], value: Callable[[str], Any]) -> Any:
    """The canonical array of one parameter from the torch tensors holding it (`value`: attribute → NumPy array,
    e.g. the tensors' values or their gradients, which convert the same way: every conversion is a reordering)."""
    import numpy as np

    parts = []
    for w in weights:
        a = value(w.attribute)
        if w.transposed:
            from ..backends.torch.layout import from_torch

            a = from_torch(a)
        if w.gru_gates:
            a = gru_gates_to_keras(a)
        parts.append((w.row, a))
    if parts[0][0] is None:
        return parts[0][1]
    return np.stack([a for _, a in sorted(parts, key=lambda p: p[0])])


# -- values ------------------------------------------------------------------------------------

def activation_expr(act: Any, x: str, ctx: EjectContext) -> str:
    """The torch expression of an IR activation applied to `x` (every parameter explicit)."""
    kind = act.type
    simple = {"linear": "{x}", "relu": "torch.relu({x})", "sigmoid": "torch.sigmoid({x})", "tanh": "torch.tanh({x})",
              "hard_sigmoid": "F.hardsigmoid({x})", "softsign": "F.softsign({x})", "swish": "F.silu({x})",
              "silu": "F.silu({x})", "mish": "F.mish({x})", "softmax": "torch.softmax({x}, dim=-1)",
              "relu6": "F.hardtanh({x}, min_val=0.0, max_val=6.0)",
              "softplus": "F.softplus({x}, beta=1.0, threshold=20.0)"}
    if kind in simple:
        return simple[kind].format(x=x)
    if kind == "leaky_relu":
        return f"F.leaky_relu({x}, negative_slope={py(float(act.negative_slope))})"
    if kind == "elu":
        return f"F.elu({x}, alpha={py(float(act.alpha))})"
    if kind == "gelu":
        return f"F.gelu({x}, approximate={py('tanh' if act.approximate else 'none')})"
    if kind == "selu":
        ctx.need("selu")
        return f"selu({x})"
    raise EjectError(f"no torch expression for activation {kind!r}")


def init_lines(target: str, param: ParamIR, ctx: EjectContext) -> list[str]:
    """Statements initialising `target` (a torch tensor, e.g. ``self.dense.weight``) as the IR says.

    Fans are those of the canonical shape (the Keras convention of dnnc's initializers), written as numbers.
    """
    init = param.init
    kind = init.type
    if kind in ("zeros", "ones"):
        return [f"nn.init.{kind}_({target})"]
    if kind == "constant":
        return call("nn.init.constant_", [target, *kw(val=float(init.value))], 2)
    if kind == "random_normal":
        return call("nn.init.normal_", [target, *kw(mean=float(init.mean), std=float(init.stddev))], 2)
    if kind == "random_uniform":
        return call("nn.init.uniform_", [target, *kw(a=float(init.minval), b=float(init.maxval))], 2)
    if kind == "truncated_normal":
        m, s = float(init.mean), float(init.stddev)
        return call("nn.init.trunc_normal_", [target, *kw(mean=m, std=s, a=m - 2 * s, b=m + 2 * s)], 2)
    if kind == "orthogonal":
        # torch's algorithm is Keras's (QR of a normal draw, signs of R's diagonal) on the transposed layout: the
        # same distribution
        return call("nn.init.orthogonal_", [target, *kw(gain=float(init.gain))], 2)
    if kind == "variance_scaling":
        scale, mode, dist = float(init.scale), init.mode, init.distribution
        note = []
    else:
        family, _, dist = kind.partition("_")
        if family not in FAMILIES or dist not in ("normal", "uniform"):
            raise EjectError(f"no torch initializer for {kind!r}")
        scale, mode = FAMILIES[family]
        dist = "uniform" if dist == "uniform" else "truncated_normal"
        note = [f"# {kind}: variance_scaling(scale={scale}, mode={mode!r}, distribution={dist!r})".replace("'", '"')]
    ctx.need("variance_scaling_")
    fan_in, fan_out = compute_fans(tuple(param.shape))
    args = [target, *kw(scale=scale, mode=mode, distribution=dist, fan_in=int(fan_in), fan_out=int(fan_out))]
    return [("        " + n) for n in note] + call("variance_scaling_", args, 2)


def _param_init(node: NodeIR, ctx: EjectContext, attribute: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for p in node.params:
        lines += init_lines(f"self.{attribute[p.name]}", p, ctx)
    return lines


def _linear(node: NodeIR, ctx: EjectContext, out_features: int) -> TorchNode:
    name = ctx.var(node.name)
    in_features = ctx.input_shape(node)[-1]
    args = kw(in_features=int(in_features), out_features=int(out_features), bias=bool(node.attrs.use_bias))
    attribute = {"kernel": f"{name}.weight", "bias": f"{name}.bias"}
    init = call(f"self.{name} = nn.Linear", args, 2)
    init += _param_init(node, ctx, attribute)
    weights = [TorchWeight("kernel", f"{name}.weight", True)]
    if node.attrs.use_bias:
        weights.append(TorchWeight("bias", f"{name}.bias"))
    return TorchNode(init=init, weights=weights)


# -- emitters ------------------------------------------------------------------------------------

def emit_input(node: NodeIR, ctx: EjectContext) -> TorchNode:
    return TorchNode()  # a parameter of forward()


def emit_dense(node: NodeIR, ctx: EjectContext) -> TorchNode:
    out = _linear(node, ctx, node.attrs.units)
    name = ctx.var(node.name)
    value = activation_expr(node.attrs.activation, f"self.{name}({ctx.input_var(node)})", ctx)
    out.forward = [f"{name} = {value}"]
    return out


def emit_maxout(node: NodeIR, ctx: EjectContext) -> TorchNode:
    a = node.attrs
    out = _linear(node, ctx, a.units * a.pieces)
    name = ctx.var(node.name)
    out.forward = [
        f"# output j = max of the linear outputs j * {a.pieces} ... j * {a.pieces} + {a.pieces - 1}",
        f"z = self.{name}({ctx.input_var(node)})",
        f"{name} = z.unflatten(-1, ({a.units}, {a.pieces})).amax(dim=-1)",
    ]
    return out


def emit_batch_norm(node: NodeIR, ctx: EjectContext) -> TorchNode:
    a = node.attrs
    ctx.need("KerasBatchNorm")
    name = ctx.var(node.name)
    args = kw(channels=int(node.shape[-1]), momentum=float(a.momentum), epsilon=float(a.epsilon),
              center=bool(a.center), scale=bool(a.scale), inference_mode=bool(a.inference_mode))
    attribute = {p.name: f"{name}.{p.name}" for p in node.params}
    init = call(f"self.{name} = KerasBatchNorm", args, 2) + _param_init(node, ctx, attribute)
    weights = [TorchWeight(p.name, f"{name}.{p.name}") for p in node.params]
    return TorchNode(init=init, forward=[f"{name} = self.{name}({ctx.input_var(node)})"], weights=weights)


def emit_dropout(node: NodeIR, ctx: EjectContext) -> TorchNode:
    name = ctx.var(node.name)
    return TorchNode(
        init=["# inverted dropout: x * mask / (1 - p) in training mode, identity in eval mode",
              f"self.{name} = nn.Dropout(p={py(float(node.attrs.rate))}, inplace=False)"],
        forward=[f"{name} = self.{name}({ctx.input_var(node)})"],
    )


def emit_activation(node: NodeIR, ctx: EjectContext) -> TorchNode:
    return TorchNode(forward=[f"{ctx.var(node.name)} = {activation_expr(node.attrs.activation, ctx.input_var(node), ctx)}"])


def _noted(text: str, note: str) -> list[str]:
    """A forward() statement with a trailing comment, or the comment on a line of its own when the line would
    be too long (``ruff format`` would split the statement)."""
    line = f"{text}  # {note}"
    return [line] if len(INDENT * 2 + line) <= LINE_LENGTH else [f"# {note}", text]


def emit_flatten(node: NodeIR, ctx: EjectContext) -> TorchNode:
    x = ctx.input_var(node)
    return TorchNode(forward=_noted(f"{ctx.var(node.name)} = {x}.reshape({x}.shape[0], -1)", "row-major, channels last"))


def emit_reshape(node: NodeIR, ctx: EjectContext) -> TorchNode:
    x = ctx.input_var(node)
    dims = ", ".join(str(int(d)) for d in node.attrs.shape)
    return TorchNode(forward=[f"{ctx.var(node.name)} = {x}.reshape({x}.shape[0], {dims})"])


def emit_concatenate(node: NodeIR, ctx: EjectContext) -> TorchNode:
    xs = ", ".join(ctx.var(i) for i in node.inputs)
    return TorchNode(forward=[f"{ctx.var(node.name)} = torch.cat([{xs}], dim={node.attrs.axis})"])


def _fold_where(xs: list[str], cmp: str) -> str:
    out = xs[0]
    for x in xs[1:]:
        out = f"torch.where({out} {cmp} {x}, {out}, {x})"
    return out


def emit_merge(node: NodeIR, ctx: EjectContext) -> TorchNode:
    xs = [ctx.var(i) for i in node.inputs]
    name = ctx.var(node.name)
    if node.op == "add":
        value = " + ".join(xs)
    elif node.op == "subtract":
        value = f"{xs[0]} - {xs[1]}"
    elif node.op == "multiply":
        value = " * ".join(xs)
    elif node.op == "average":
        value = f"({' + '.join(xs)}) / {len(xs)}"
    elif node.op == "maximum":  # ties go to the left operand, as in TensorFlow
        value = _fold_where(xs, ">=")
    else:
        value = _fold_where(xs, "<=")
    return TorchNode(forward=[f"{name} = {value}"])


# -- spatial ops (channels-last in the IR, channels-first inside torch's kernels) -------------------

#: spatial rank → (channels-last → channels-first permutation, and back)
PERMUTE = {1: ("permute(0, 2, 1)", "permute(0, 2, 1)"), 2: ("permute(0, 3, 1, 2)", "permute(0, 2, 3, 1)")}
LAYOUT_NOTE = {1: "(N, L, C) -> torch's (N, C, L) and back", 2: "(N, H, W, C) -> torch's (N, C, H, W) and back"}
AXES = {1: ("length",), 2: ("rows", "columns")}


def _pads(node: NodeIR, ctx: EjectContext, window, strides, dilation) -> list[tuple[int, int]]:
    spatial = ctx.input_shape(node)[:-1]
    return [padding_amounts(n, k, s, d, node.attrs.padding) for n, k, s, d in zip(spatial, window, strides, dilation)]


def _f_pad(pads: list[tuple[int, int]]) -> tuple[int, ...]:
    """``F.pad``'s argument: (before, after) of the last axis first."""
    return tuple(v for pair in reversed(pads) for v in pair)


def _pad_comment(pads: list[tuple[int, int]], rank: int, what: str) -> str:
    cells = ", ".join(f"{axis} {before} before and {after} after" for axis, (before, after) in zip(AXES[rank], pads))
    return f"# padding \"same\" (TensorFlow's rule: any odd cell after): {cells}; {what}"


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def emit_conv(node: NodeIR, ctx: EjectContext) -> TorchNode:
    a = node.attrs
    rank = len(a.kernel_size)
    name = ctx.var(node.name)
    pads = _pads(node, ctx, a.kernel_size, a.strides, a.dilation_rate)
    symmetric = all(before == after for before, after in pads)
    cls = f"nn.Conv{rank}d"
    args = kw(in_channels=int(ctx.input_shape(node)[-1]), out_channels=int(a.filters), kernel_size=_ints(a.kernel_size),
              stride=_ints(a.strides), padding=tuple(before if symmetric else 0 for before, _ in pads),
              dilation=_ints(a.dilation_rate), groups=int(a.groups), bias=bool(a.use_bias), padding_mode="zeros")
    window = "k" if rank == 1 else "kh, kw"
    init = [f"# weight (filters, in/groups, {window}); dnnc's canonical kernel is ({window}, in/groups, filters)"]
    if a.padding == "same" and symmetric:
        init.append("# padding \"same\" (TensorFlow's rule) is symmetric here: given to the convolution")
    elif not symmetric:
        init.append("# padding \"same\" (TensorFlow's rule) is asymmetric here: an explicit F.pad in forward()")
    init += call(f"self.{name} = {cls}", args, 2)
    init += _param_init(node, ctx, {"kernel": f"{name}.weight", "bias": f"{name}.bias"})
    weights = [TorchWeight("kernel", f"{name}.weight", True)]
    if a.use_bias:
        weights.append(TorchWeight("bias", f"{name}.bias"))
    first, back = PERMUTE[rank]
    forward = [f"# channels-last {LAYOUT_NOTE[rank]}", f"z = {ctx.input_var(node)}.{first}"]
    if not symmetric:
        forward += [_pad_comment(pads, rank, "zeros"), f"z = F.pad(z, {py(_f_pad(pads))})"]
    if a.activation.type == "linear":
        forward.append(f"{name} = self.{name}(z).{back}")
    else:
        forward += [f"z = self.{name}(z).{back}", f"{name} = {activation_expr(a.activation, 'z', ctx)}"]
    return TorchNode(init=init, forward=forward, weights=weights)


def emit_pool(node: NodeIR, ctx: EjectContext) -> TorchNode:
    """Max pooling pads with −inf (a padded cell never wins); average pooling over padded windows divides by the
    number of real cells (``avg_pool_real_cells``), TensorFlow's rule."""
    a = node.attrs
    kind = node.op.split("_")[0]
    rank = len(a.pool_size)
    name = ctx.var(node.name)
    window, strides = _ints(a.pool_size), _ints(a.strides)
    pads = _pads(node, ctx, window, strides, (1,) * rank)
    padded = any(before or after for before, after in pads)
    first, back = PERMUTE[rank]
    forward = [f"# channels-last {LAYOUT_NOTE[rank]}", f"z = {ctx.input_var(node)}.{first}"]
    init: list[str] = []
    if kind == "avg" and padded:
        ctx.need("avg_pool_real_cells")
        forward.append(_pad_comment(pads, rank, "the padded cells are not counted"))
        args = ", ".join(["z", *kw(kernel_size=window, stride=strides, pad=_f_pad(pads))])
        forward += [f"z = avg_pool_real_cells({args})", f"{name} = z.{back}"]
        return TorchNode(forward=forward)
    if kind == "max":
        args = kw(kernel_size=window, stride=strides, padding=0, dilation=1, return_indices=False, ceil_mode=False)
        init = call(f"self.{name} = nn.MaxPool{rank}d", args, 2)
        if padded:
            forward += [_pad_comment(pads, rank, "-inf cells never win"),
                        f"z = F.pad(z, {py(_f_pad(pads))}, value=float(\"-inf\"))"]
    else:
        args = kw(kernel_size=window, stride=strides, padding=0, ceil_mode=False, count_include_pad=False)
        if rank == 2:
            args += kw(divisor_override=None)
        init = call(f"self.{name} = nn.AvgPool{rank}d", args, 2)
    forward.append(f"{name} = self.{name}(z).{back}")
    return TorchNode(init=init, forward=forward)


def emit_global_pool(node: NodeIR, ctx: EjectContext) -> TorchNode:
    kind = node.op.split("_")[1]
    rank = int(node.op[-2])
    axes = "1" if rank == 1 else "(1, 2)"
    fn = "amax" if kind == "max" else "mean"
    note = "the maximum" if kind == "max" else "the mean"
    over = "the length" if rank == 1 else "height and width"
    return TorchNode(forward=_noted(f"{ctx.var(node.name)} = {ctx.input_var(node)}.{fn}(dim={axes})", f"{note} over {over}"))


def emit_zero_padding2d(node: NodeIR, ctx: EjectContext) -> TorchNode:
    (top, bottom), (left, right) = node.attrs.padding
    return TorchNode(forward=[
        f"# zeros: {_count(top, 'row')} at the top, {bottom} at the bottom, {_count(left, 'column')} at the left, "
        f"{right} at the right (F.pad's order, last axis first: channels, width, height)",
        f"{ctx.var(node.name)} = F.pad({ctx.input_var(node)}, {py((0, 0, left, right, top, bottom))})",
    ])


def emit_upsampling2d(node: NodeIR, ctx: EjectContext) -> TorchNode:
    rows, columns = _ints(node.attrs.size)
    x = ctx.input_var(node)
    return TorchNode(forward=[
        f"# nearest: each row repeated {_times(rows)}, then each column {_times(columns)}",
        f"{ctx.var(node.name)} = {x}.repeat_interleave({rows}, dim=1).repeat_interleave({columns}, dim=2)",
    ])


def emit_spatial_dropout2d(node: NodeIR, ctx: EjectContext) -> TorchNode:
    name = ctx.var(node.name)
    first, back = PERMUTE[2]
    return TorchNode(
        init=["# whole feature maps: one keep value per sample and channel, x * mask / (1 - p) in training mode",
              f"self.{name} = nn.Dropout2d(p={py(float(node.attrs.rate))}, inplace=False)"],
        forward=[f"# on channels-first input {LAYOUT_NOTE[2]}",
                 f"{name} = self.{name}({ctx.input_var(node)}.{first}).{back}"],
    )


def emit_layer_norm(node: NodeIR, ctx: EjectContext) -> TorchNode:
    """``nn.LayerNorm`` over the last axis (biased variance, epsilon inside the square root); torch has no
    offset without a scale, so ``center`` without ``scale`` adds beta as a parameter of its own."""
    a = node.attrs
    name = ctx.var(node.name)
    channels = int(node.shape[-1])
    args = kw(normalized_shape=(channels,), eps=float(a.epsilon), elementwise_affine=bool(a.scale),
              bias=bool(a.scale and a.center))
    init = call(f"self.{name} = nn.LayerNorm", args, 2)
    attribute = {"gamma": f"{name}.weight", "beta": f"{name}.bias"}
    value = f"self.{name}({ctx.input_var(node)})"
    if a.center and not a.scale:
        beta = ctx.var(f"{node.name}/beta")  # a key no node has: a name of its own
        attribute["beta"] = beta
        init.append(f"self.{beta} = nn.Parameter(torch.empty({channels}))  # center without scale")
        value += f" + self.{beta}"
    init += _param_init(node, ctx, attribute)
    weights = [TorchWeight(p.name, attribute[p.name]) for p in node.params]
    return TorchNode(init=init, forward=[f"{name} = {value}"], weights=weights)


# -- recurrent ops and embeddings ------------------------------------------------------------------

#: op → (torch's fused module, the explicit cell-loop class of torch_support)
RECURRENT = {"simple_rnn": ("nn.RNN", "KerasSimpleRNN"), "lstm": ("nn.LSTM", "KerasLSTM"),
             "gru": ("nn.GRU", "KerasGRU")}


def recurrent_is_fused(op: str, a: Any, ctx: EjectContext) -> bool:
    """Whether torch's fused nn.RNN/nn.LSTM/nn.GRU computes the op exactly (the dnnc torch backend's rule,
    :mod:`dnnc.backends.torch.recurrent`): a simple RNN with tanh or relu; tanh and sigmoid for LSTM and GRU;
    reset_after for GRU.  Also no recurrent dropout (torch's kernels take no state masks; the input dropout,
    one mask per sequence, is applied to the sequence first), and not a GRU bias under the optimizer's
    per-tensor ``clipnorm`` (the fused GRU holds the canonical bias as two tensors, whose norms are not the
    bias's)."""
    if a.recurrent_dropout > 0:
        return False
    if op == "simple_rnn":
        return a.activation.type in ("tanh", "relu")
    exact = a.activation.type == "tanh" and a.recurrent_activation.type == "sigmoid"
    if op == "gru":
        clipnorm = ctx.ir.training is not None and ctx.ir.training.optimizer.get("clipnorm") is not None
        exact = exact and a.reset_after and not (a.use_bias and clipnorm)
    return exact


def _callable(act: Any, ctx: EjectContext) -> str:
    """An activation as a callable argument: ``torch.tanh``, or a lambda when it has arguments."""
    expr = activation_expr(act, "x", ctx)
    match = re.fullmatch(r"([\w.]+)\(x\)", expr)
    return match.group(1) if match else f"lambda x: {expr}"


def _bias_init(target: str, param: ParamIR, a: Any, op: str, ctx: EjectContext) -> list[str]:
    """An LSTM bias with unit_forget_bias as Keras builds it: the i slice drawn, the f slice ones, the c, o slices
    drawn (each draw with the fans of its own shape); any other bias in one draw."""
    if op != "lstm" or not a.unit_forget_bias:
        return init_lines(target, param, ctx)
    u = a.units
    return ["# unit_forget_bias: gate blocks i (drawn), f (ones), c and o (drawn)",
            *init_lines(f"{target}[0:{u}]", param.model_copy(update={"shape": (u,)}), ctx),
            f"nn.init.ones_({target}[{u}:{2 * u}])",
            *init_lines(f"{target}[{2 * u}:{4 * u}]", param.model_copy(update={"shape": (2 * u,)}), ctx)]


@dataclass
class _Layer:
    """One direction of a recurrent node: the module ``self.<module>`` and how forward() calls it."""

    op: str
    attrs: Any
    module: str
    fused: bool
    dropout: str | None = None  # the SequenceDropout module of a fused layer's input dropout


def _recurrent_layer(op: str, a: Any, features: int, params: dict[str, ParamIR], prefix: str, mask_prefix: str,
                     module: str, ctx: EjectContext, out: TorchNode) -> _Layer:
    """Add one recurrent layer's __init__ lines, weights and masks to `out` (`params`: its canonical parameters
    without the direction prefix; `prefix`: that prefix of their names)."""
    u = a.units
    fused = recurrent_is_fused(op, a, ctx)
    fused_cls, loop_cls = RECURRENT[op]
    bias = params.get("bias")
    layer = _Layer(op, a, module, fused)
    if not fused:
        ctx.need(loop_cls)
        args = [*kw(features=int(features), units=int(u)), f"activation={_callable(a.activation, ctx)}"]
        if op != "simple_rnn":
            args.append(f"recurrent_activation={_callable(a.recurrent_activation, ctx)}")
        args += kw(use_bias=bool(a.use_bias))
        if op == "gru":
            args += kw(reset_after=bool(a.reset_after))
        args += kw(dropout=float(a.dropout), recurrent_dropout=float(a.recurrent_dropout))
        why = _loop_reason(op, a, ctx)
        out.init += [f"# the explicit cell loop ({why}); canonical parameters as they are"]
        out.init += call(f"self.{module} = {loop_cls}", args, 2)
        out.init += init_lines(f"self.{module}.kernel", params["kernel"], ctx)
        out.init += init_lines(f"self.{module}.recurrent_kernel", params["recurrent_kernel"], ctx)
        if bias is not None:
            out.init += _bias_init(f"self.{module}.bias", bias, a, op, ctx)
        out.weights += [TorchWeight(prefix + p, f"{module}.{p}") for p in params]
        if a.dropout > 0:
            out.masks[f"{mask_prefix}dropout"] = f"{module}.input_mask"
        if a.recurrent_dropout > 0:
            out.masks[f"{mask_prefix}recurrent_dropout"] = f"{module}.state_mask"
        return layer
    gru = op == "gru"
    args = kw(input_size=int(features), hidden_size=int(u), num_layers=1)
    if op == "simple_rnn":
        args += kw(nonlinearity=a.activation.type)
    args += kw(bias=bool(a.use_bias), batch_first=True, dropout=0.0, bidirectional=False)
    if op == "lstm":
        args += kw(proj_size=0)
    if gru:
        out.init.append("# torch's fused GRU is Keras's reset-after GRU, gate blocks in torch's order r, z, n "
                        "(Keras's z, r, h: gru_gates_to_torch in load_canonical_weights)")
        ctx.need("gru_gates_to_torch")
    elif op == "lstm":
        out.init.append("# torch's fused LSTM: gate blocks i, f, g, o are Keras's i, f, c, o (the same order)")
    else:
        out.init.append("# torch's fused RNN: Keras's SimpleRNN")
    out.init += call(f"self.{module} = {fused_cls}", args, 2)
    out.init += init_lines(f"self.{module}.weight_ih_l0", params["kernel"], ctx)
    out.init += init_lines(f"self.{module}.weight_hh_l0", params["recurrent_kernel"], ctx)
    out.weights += [TorchWeight(prefix + "kernel", f"{module}.weight_ih_l0", True, gru_gates=gru),
                    TorchWeight(prefix + "recurrent_kernel", f"{module}.weight_hh_l0", True, gru_gates=gru)]
    if bias is not None and gru:
        out.init.append("# the two bias rows: bias_ih_l0 (input) and bias_hh_l0 (recurrent)")
        out.init += init_lines(f"self.{module}.bias_ih_l0", bias, ctx)
        out.init += init_lines(f"self.{module}.bias_hh_l0", bias, ctx)
        out.weights += [TorchWeight(prefix + "bias", f"{module}.bias_ih_l0", gru_gates=True, row=0),
                        TorchWeight(prefix + "bias", f"{module}.bias_hh_l0", gru_gates=True, row=1)]
    elif bias is not None:
        out.init += _bias_init(f"self.{module}.bias_ih_l0", bias, a, op, ctx)
        out.init += ["# Keras has one bias (bias_ih_l0); torch adds a second, kept at zero and not trained",
                     f"nn.init.zeros_(self.{module}.bias_hh_l0)",
                     f"self.{module}.bias_hh_l0.requires_grad_(False)"]
        out.weights.append(TorchWeight(prefix + "bias", f"{module}.bias_ih_l0"))
    if a.dropout > 0:
        ctx.need("SequenceDropout")
        layer.dropout = ctx.var(f"{module}/dropout")
        out.init += [f"self.{layer.dropout} = SequenceDropout(rate={py(float(a.dropout))}, gates=1, "
                     f"size={int(features)})"]
        out.masks[f"{mask_prefix}dropout"] = layer.dropout
    return layer


def _loop_reason(op: str, a: Any, ctx: EjectContext) -> str:
    if a.recurrent_dropout > 0:
        return "recurrent_dropout: a state mask in each gate's recurrent matmul"
    if op == "simple_rnn":
        return f"torch's fused RNN has tanh and relu, not {a.activation.type}"
    if a.activation.type != "tanh" or a.recurrent_activation.type != "sigmoid":
        return (f"activation {a.activation.type}, recurrent_activation {a.recurrent_activation.type}: torch's "
                "fused kernel has tanh and sigmoid")
    if not a.reset_after:
        return "reset_after = false: the reset gate before the recurrent matmul, which torch's GRU does not do"
    return "clipnorm: the optimizer clips the canonical bias as one tensor"


def _summary(op: str, a: Any) -> str:
    """``lstm, 3 units, tanh and sigmoid gates, every state, go_backwards, dropout 0.25``."""
    acts = a.activation.type + (f" and {a.recurrent_activation.type} gates" if op != "simple_rnn" else "")
    parts = [op, f"{a.units} unit{'' if a.units == 1 else 's'}", acts,
             "every state" if a.return_sequences else "the last state"]
    if op == "gru":
        parts.append("reset after" if a.reset_after else "reset before the recurrent matmul")
    if op == "lstm" and not a.unit_forget_bias:
        parts.append("no unit_forget_bias")
    if not a.use_bias:
        parts.append("no bias")
    if a.go_backwards:
        parts.append("go_backwards")
    if a.dropout > 0:
        parts.append(f"dropout {a.dropout}")
    if a.recurrent_dropout > 0:
        parts.append(f"recurrent_dropout {a.recurrent_dropout}")
    return ", ".join(parts)


def _layer_forward(layer: _Layer, x: str, value: str) -> list[str]:
    """forward() lines computing `value` (the last state, or every state with return_sequences) from `x`."""
    a, lines, z = layer.attrs, [], x
    if a.go_backwards:
        lines += _noted(f"z = {x}.flip(1)", "go_backwards: the steps from last to first")
        z = "z"
    if layer.dropout is not None:
        if z != "z":
            lines.append(f"z = {z}")
        lines += [f"# dropout {a.dropout} in training: one keep mask per sequence, the same at every step",
                  "if self.training:",
                  f"{INDENT * 3}z = z * self.{layer.dropout}(z)"]
        z = "z"
    target = value if a.return_sequences else "states"
    note = "every step's state" + (" in processing order" if a.go_backwards else "")
    if layer.fused:
        state = "(h0, h0)" if layer.op == "lstm" else "h0"
        lines += _noted(f"h0 = {z}.new_zeros(1, {z}.shape[0], {a.units})",
                        "zero initial state" + (" (h and c)" if layer.op == "lstm" else ""))
        call_ = f"{target}, _ = self.{layer.module}({z}, {state})"
    else:
        call_ = f"{target} = self.{layer.module}({z})"
    lines += _noted(call_, note)
    if not a.return_sequences:
        lines += _noted(f"{value} = states[:, -1]", "the last state")
    return lines


def _node_params(node: NodeIR, prefix: str = "") -> dict[str, ParamIR]:
    return {p.name[len(prefix):]: p for p in node.params if p.name.startswith(prefix)}


def emit_recurrent(node: NodeIR, ctx: EjectContext) -> TorchNode:
    out = TorchNode(init=[f"# {_summary(node.op, node.attrs)}; zero initial state"])
    name = ctx.var(node.name)
    features = ctx.input_shape(node)[-1]
    layer = _recurrent_layer(node.op, node.attrs, features, _node_params(node), "", f"{node.name}/", name, ctx, out)
    out.forward = _layer_forward(layer, ctx.input_var(node), name)
    return out


MERGE = {"concat": "torch.cat([yf, yb], dim=-1)", "sum": "yf + yb", "mul": "yf * yb", "ave": "(yf + yb) / 2"}


def emit_bidirectional(node: NodeIR, ctx: EjectContext) -> TorchNode:
    """Two layers of the wrapped op with their own weights (Keras's forward_layer and backward_layer, a
    go_backwards copy); the backward states put back in time order when they are a sequence, then merged."""
    from ..compiler.recurrent_ops import DIRECTIONS, direction_attrs

    a = node.attrs
    out = TorchNode(init=[f"# bidirectional {_summary(a.layer, a.cell)}, merge_mode {a.merge_mode}: a forward "
                          "and a backward (go_backwards) layer with their own weights; zero initial states"])
    name = ctx.var(node.name)
    x = ctx.input_var(node)
    features = ctx.input_shape(node)[-1]
    for d, value in zip(DIRECTIONS, ("yf", "yb")):
        module = ctx.var(f"{node.name}/{d}")
        out.init.append(f"# the {d} layer")
        layer = _recurrent_layer(a.layer, direction_attrs(a, d), features, _node_params(node, f"{d}_"), f"{d}_",
                                 f"{node.name}/{d}_", module, ctx, out)
        out.forward += [f"# the {d} layer", *_layer_forward(layer, x, value)]
    if a.cell.return_sequences:
        out.forward.append("yb = yb.flip(1)  # the backward states back in time order")
    out.forward.append(f"{name} = {MERGE[a.merge_mode]}  # merge_mode {a.merge_mode}")
    return out


def emit_embedding(node: NodeIR, ctx: EjectContext) -> TorchNode:
    a, param = node.attrs, node.params[0]
    name = ctx.var(node.name)
    args = kw(num_embeddings=int(a.input_dim), embedding_dim=int(a.output_dim), padding_idx=None, max_norm=None,
              norm_type=2.0, scale_grad_by_freq=False, sparse=False)
    init = ["# weight: the (input_dim, output_dim) table, dnnc's canonical layout; id 0 is a token like the others",
            *call(f"self.{name} = nn.Embedding", args, 2),
            *init_lines(f"self.{name}.weight", param, ctx)]
    return TorchNode(init=init, forward=_noted(f"{name} = self.{name}({ctx.input_var(node)})", "int64 token ids"),
                     weights=[TorchWeight(param.name, f"{name}.weight")])


Emitter = Callable[[NodeIR, EjectContext], TorchNode]

EMITTERS: dict[str, Emitter] = {
    "input": emit_input,
    "dense": emit_dense,
    "maxout": emit_maxout,
    "batch_norm": emit_batch_norm,
    "layer_norm": emit_layer_norm,
    "dropout": emit_dropout,
    "activation": emit_activation,
    "flatten": emit_flatten,
    "reshape": emit_reshape,
    "concatenate": emit_concatenate,
    **{op: emit_merge for op in MERGE_OPS},
    **{f"conv{r}d": emit_conv for r in (1, 2)},
    **{f"{kind}_pool{r}d": emit_pool for kind in ("max", "avg") for r in (1, 2)},
    **{f"global_{kind}_pool{r}d": emit_global_pool for kind in ("max", "avg") for r in (1, 2)},
    "zero_padding2d": emit_zero_padding2d,
    "upsampling2d": emit_upsampling2d,
    "spatial_dropout2d": emit_spatial_dropout2d,
    **{op: emit_recurrent for op in RECURRENT},
    "bidirectional": emit_bidirectional,
    "embedding": emit_embedding,
}
"""IR op → emitter of the ejected torch module."""

