"""One emitter per IR op for the ejected PyTorch module (like the torch backend's converters).

An emitter receives the node and the :class:`~dnnc.eject.context.EjectContext`
and returns a :class:`TorchNode` (each line either laid out at the body's
indentation, two levels, e.g. by :func:`~dnnc.eject.code.call`, or a bare
statement or ``#`` comment that the module lays out there): the statements of ``Model.__init__`` that create
the node's module and initialise its parameters, the statements of
``Model.forward`` that compute the node's value (a variable named by
``ctx.var(node.name)``), and how each canonical parameter maps onto a torch tensor
(for ``load_canonical_weights``).  Semantics are those of
:mod:`dnnc.backends.torch.modules`; every hyperparameter is written out.

To add an op: write ``emit_<op>(node, ctx) -> TorchNode`` and register it in
:data:`EMITTERS` (docs/export.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..compiler.initial_weights import compute_fans
from ..compiler.ir import NodeIR, ParamIR
from ..compiler.ops import MERGE_OPS
from .code import call, kw, py
from .context import EjectContext, EjectError

FAMILIES = {"glorot": (1.0, "fan_avg"), "he": (2.0, "fan_in"), "lecun": (1.0, "fan_in")}


@dataclass
class TorchWeight:
    """Canonical parameter → the torch tensor holding it: ``model.<attribute>``, stored transposed or not."""

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


def emit_flatten(node: NodeIR, ctx: EjectContext) -> TorchNode:
    x = ctx.input_var(node)
    return TorchNode(forward=[f"{ctx.var(node.name)} = {x}.reshape({x}.shape[0], -1)  # row-major, channels last"])


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


Emitter = Callable[[NodeIR, EjectContext], TorchNode]

EMITTERS: dict[str, Emitter] = {
    "input": emit_input,
    "dense": emit_dense,
    "maxout": emit_maxout,
    "batch_norm": emit_batch_norm,
    "dropout": emit_dropout,
    "activation": emit_activation,
    "flatten": emit_flatten,
    "reshape": emit_reshape,
    "concatenate": emit_concatenate,
    **{op: emit_merge for op in MERGE_OPS},
}
"""IR op → emitter of the ejected torch module."""

