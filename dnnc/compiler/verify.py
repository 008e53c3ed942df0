"""The IR verifier: every invariant of a :class:`~dnnc.compiler.ir.ModelIR`, checked against the op set.

:func:`verify` runs at the end of lowering (so a plugin's lowering output is
checked like dnnc's own) and in :meth:`ModelIR.from_json` (so a run
directory's ``ir.json`` and an artifact's sidecar are checked before anything
is built from them).  It collects every problem and raises one
:class:`IRError` naming, for each, the node and the field at fault.

Invariants:

* node names are unique; every node's op is in the op table and its
  attributes are that op's attribute model;
* nodes are in topological order: each input names an earlier node; input
  nodes take no inputs and are exactly ``ir.inputs``, in order;
* an int64 (token) input node feeds only embedding nodes, and an embedding
  node reads only a token input (:mod:`dnnc.compiler.embedding_ops`);
* each node has an allowed number of inputs, and its shape is what its op's
  shape rule gives for its attributes and input shapes (an input node's
  declared shape has positive entries);
* each node's parameters are exactly what its op defines — names in canonical
  order, shapes, trainability (a parameter is trainable when its op says so
  and its node is not frozen);
* only a node with parameters can be frozen (``trainable = False``), and the
  attributes of an op that depends on it agree with the flag
  (:attr:`~dnnc.compiler.ops.OpDef.trainability`: a frozen batch norm has
  ``inference_mode`` true, a trainable one false);
* outputs name distinct nodes and carry their shapes; an output's head and
  target agree with its loss (a cross-entropy loss is computed from logits,
  with the softmax or sigmoid head the compiler removed from the graph; every
  other loss has the ``linear`` head).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from .ops import LoweringError, OpDef, default_op_table
from .embedding_ops import dtype_problem

if TYPE_CHECKING:  # pragma: no cover
    from .ir import ModelIR

#: cross-entropy loss → (head, target kind); every other loss has head "linear".
CROSS_ENTROPY_HEADS: dict[str, tuple[str, str]] = {
    "categorical_crossentropy": ("softmax", "one_hot"),
    "sparse_categorical_crossentropy": ("softmax", "sparse"),
    "binary_crossentropy": ("sigmoid", "binary"),
}


@dataclass(frozen=True)
class IRIssue:
    """One broken invariant: the node (None for model-level fields), the field, what is wrong."""

    node: str | None
    field: str
    message: str

    def render(self) -> str:
        where = f"node {self.node!r} {self.field}" if self.node is not None else self.field
        return f"{where}: {self.message}"


class IRError(ValueError):
    """An IR that breaks the contract; ``issues`` lists every problem, ``source`` the file it came from."""

    def __init__(self, issues: list[IRIssue], source: str | None = None) -> None:
        self.issues = list(issues)
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"{self.source}: " if self.source else ""
        body = "; ".join(i.render() for i in self.issues)
        return f"{head}invalid IR: {body}"

    def with_source(self, source: str) -> "IRError":
        return IRError(self.issues, source)


def verify(ir: "ModelIR", ops: Mapping[str, OpDef] | None = None) -> None:
    """Raise IRError listing every broken invariant of `ir` (see the module docstring)."""
    table = default_op_table() if ops is None else ops
    issues: list[IRIssue] = []

    def bad(node: str | None, field: str, message: str) -> None:
        issues.append(IRIssue(node, field, message))

    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}  # the element type of every input node (other nodes compute float32)
    input_nodes: list[str] = []
    for node in ir.nodes:
        name = node.name
        if name in shapes:
            bad(name, "name", "two nodes have this name")
            continue
        op = table.get(node.op)
        if op is None or not isinstance(node.attrs, op.attrs):
            if op is None:
                bad(name, "op", f"unknown op {node.op!r} (known: {', '.join(sorted(table))})")
            else:
                bad(name, "attrs", f"attributes of type {type(node.attrs).__name__}, expected {op.attrs.__name__}")
            shapes[name] = tuple(node.shape)  # stands in for its consumers' checks
            continue
        missing = [i for i in node.inputs if i not in shapes]
        for i in missing:
            later = any(n.name == i for n in ir.nodes)
            bad(name, "inputs", f"input {i!r} " + ("comes later: nodes must be in topological order" if later
                                                   else "is not a node of the graph"))
        if missing:  # its declared shape stands in, so its consumers are checked without a cascade
            shapes[name] = tuple(node.shape)
            continue
        in_shapes = [shapes[i] for i in node.inputs]
        for i in node.inputs:
            problem = dtype_problem(node.op, dtypes.get(i, "float32"))
            if problem:
                bad(name, "inputs", f"{problem} (input {i!r})")
        if node.op == "input":
            dtypes[name] = node.attrs.dtype
            input_nodes.append(name)
            if node.inputs:
                bad(name, "inputs", "an input node takes no inputs")
            if not node.shape or any(d <= 0 for d in node.shape):
                bad(name, "shape", f"an input shape needs positive entries (received {list(node.shape)})")
            shapes[name] = tuple(node.shape)
            _check_params(node, op, in_shapes, bad)
            continue
        try:
            expected = op.output_shape(node.attrs, in_shapes)
        except LoweringError as exc:
            field = "inputs" if exc.key == "inputs" else (f"attrs.{exc.key}" if exc.key else "attrs")
            bad(name, field, exc.message)
            shapes[name] = tuple(node.shape)
            continue
        if tuple(node.shape) != expected:
            bad(name, "shape", f"is {list(node.shape)} but {node.op} of input shape{'s' if len(in_shapes) != 1 else ''} "
                               f"{', '.join(str(list(s)) for s in in_shapes)} gives {list(expected)}")
        shapes[name] = tuple(node.shape)
        _check_params(node, op, in_shapes, bad)

    if tuple(ir.inputs) != tuple(input_nodes):
        bad(None, "inputs", f"lists {list(ir.inputs)} but the input nodes are {input_nodes}")
    seen: set[str] = set()
    for k, out in enumerate(ir.outputs):
        field = f"outputs[{k}]"
        if out.name in seen:
            bad(None, field, f"output {out.name!r} is listed twice")
        seen.add(out.name)
        if out.name not in shapes:
            bad(None, field, f"names {out.name!r}, which is not a node of the graph")
            continue
        if tuple(out.shape) != shapes[out.name]:
            bad(None, f"{field}.shape", f"is {list(out.shape)} but node {out.name!r} has shape {list(shapes[out.name])}")
        _check_head(out, field, bad)
    if issues:
        raise IRError(issues)


def _check_params(node, op: OpDef, in_shapes, bad) -> None:
    try:
        specs = op.param_specs(node.attrs, in_shapes)
    except LoweringError as exc:
        bad(node.name, "params", exc.message)
        return
    want = [s.name for s in specs]
    have = [p.name for p in node.params]
    if want != have:
        bad(node.name, "params", f"are {have} but {node.op} with these attributes has {want}")
        return
    if not node.trainable and not specs:
        bad(node.name, "trainable", f"is false, but a {node.op} node has no parameters to freeze")
    for k, (spec, param) in enumerate(zip(specs, node.params)):
        if tuple(param.shape) != spec.shape:
            bad(node.name, f"params[{k}].shape", f"{param.name} is {list(param.shape)} but {node.op} gives "
                                                 f"{list(spec.shape)}")
        expected = spec.trainable and node.trainable
        if param.trainable != expected:
            why = "" if spec.trainable == expected else " (the node is frozen)"
            bad(node.name, f"params[{k}].trainable", f"{param.name} must be {'trainable' if expected else 'not trainable'}{why}")
    if op.trainability is not None:
        wanted = op.trainability(node.attrs, node.trainable)
        if wanted != node.attrs:
            fields = [f for f in type(node.attrs).model_fields if getattr(wanted, f) != getattr(node.attrs, f)]
            state = "trainable" if node.trainable else "frozen"
            for f in fields:
                bad(node.name, f"attrs.{f}", f"is {getattr(node.attrs, f)!r} but a {state} {node.op} node has "
                                             f"{getattr(wanted, f)!r}")


def _check_head(out, field: str, bad) -> None:
    loss_type = out.loss.get("type") if out.loss else None
    if loss_type in CROSS_ENTROPY_HEADS:
        head, target = CROSS_ENTROPY_HEADS[loss_type]
        if out.head != head:
            bad(None, f"{field}.head", f"is {out.head!r} but {loss_type} is computed from logits with the {head} head")
        if out.target != target:
            bad(None, f"{field}.target", f"is {out.target!r} but {loss_type} needs {target!r} targets")
    elif out.head != "linear":
        bad(None, f"{field}.head", f"is {out.head!r} but only a cross-entropy loss folds an activation into the "
                                   f"loss (loss: {loss_type or 'none'})")
