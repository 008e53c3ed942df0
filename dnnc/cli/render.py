"""Rich renderings shared by the commands: model summaries, issues, tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from ..console import make_console

if TYPE_CHECKING:  # pragma: no cover
    from ..compiler.errors import SpecError
    from ..compiler.ir import ModelIR

console = make_console()
err_console = make_console(stderr=True)


def _shape(shape) -> str:
    return "(None, " + ", ".join(str(d) for d in shape) + ")" if shape else "(None,)"


def _layer_label(node) -> str:
    detail = node.op
    act = getattr(node.attrs, "activation", None)  # the ops with an activation attribute
    if node.op == "activation":
        detail = act.type
    elif act is not None and act.type != "linear":
        detail += f", {act.type}"
    if not node.trainable:
        detail += ", frozen"
    return f"{node.name} ({detail})"


def is_graph(ir: "ModelIR") -> bool:
    """True unless every node reads only the node before it (a plain sequential model)."""
    if len(ir.inputs) > 1 or len(ir.outputs) > 1:
        return True
    return any(n.inputs != (ir.nodes[i - 1].name,) for i, n in enumerate(ir.nodes) if i > 0)


def summary_table(ir: "ModelIR", counts: dict[str, tuple[int, int]] | None = None, title: str | None = None) -> Table:
    """The layer table: layer (op), output shape, parameters [, connected to].

    `counts` (node → (trainable, non-trainable)) overrides the IR's counts, e.g. with a framework's own.
    """
    graph = is_graph(ir)
    table = Table(title=title or f"Model: {ir.name!r}", title_justify="left", show_lines=False)
    table.add_column("Layer (type)")
    table.add_column("Output shape")
    table.add_column("Param #", justify="right")
    if graph:
        table.add_column("Connected to")
    for node in ir.nodes:
        trainable, frozen = counts.get(node.name, (0, 0)) if counts is not None else (node.trainable_count, node.non_trainable_count)
        row = [_layer_label(node) if node.op != "input" else f"{node.name} (input)", _shape(node.shape), f"{trainable + frozen:,}"]
        if graph:
            row.append(", ".join(node.inputs) or "-")
        table.add_row(*row)
    return table


def totals_lines(trainable: int, frozen: int) -> list[str]:
    return [
        f"Total params: {trainable + frozen:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {frozen:,}",
    ]


def print_summary(ir: "ModelIR") -> None:
    from ..compiler.memory import estimate, format_bytes

    console.print(summary_table(ir))
    for line in totals_lines(ir.trainable_count, ir.non_trainable_count):
        console.print(line)
    memory = estimate(ir)
    detail = f"{memory.describe()}, float32" if memory.optimizer_name else "float32"
    console.print(f"Parameter memory: {format_bytes(memory.total)} ({detail})")
    for o in ir.outputs:
        if o.loss:
            head = f", head {o.head}" if o.head != "linear" else ""
            metrics = ", ".join(m["name"] for m in o.metrics) or "none"
            console.print(f"Output {o.name!r}: loss {o.loss['type']}{head} (weight {o.loss_weight:g}); metrics: {metrics}")


def print_spec_error(exc: "SpecError") -> None:
    for issue in exc.issues:
        err_console.print(f"[red]error[/red]: {escape(issue.render())}", soft_wrap=True)
    n = len(exc.issues)
    err_console.print(f"{n} error{'s' if n != 1 else ''}")
