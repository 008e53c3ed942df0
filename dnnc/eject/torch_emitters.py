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
to the kernel, asymmetric padding as an explicit ``F.pad``.

To add an op: write ``emit_<op>(node, ctx) -> TorchNode`` and register it in
:data:`EMITTERS` (docs/export.md).
"""

from __future__ import annotations

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


@dataclass
class TorchNode:
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    weights: list[TorchWeight] = field(default_factory=list)


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
}
"""IR op → emitter of the ejected torch module."""

