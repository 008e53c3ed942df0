"""Commands that read a spec without building a model: validate and schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .errors import guarded
from .render import console, print_summary

SPEC_ARG = typer.Argument(..., help="The spec file (.toml or .json).", show_default=False)


def validate(
    spec: Path = SPEC_ARG,
    ir_out: Optional[Path] = typer.Option(None, "--ir", help="Also write the compiled IR as JSON to this file ('-' for stdout)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (or the errors) as JSON."),
) -> None:
    """Validate a spec and print the resolved model summary (no framework is imported)."""
    from ..compiler.compile import compile_spec
    from ..compiler.errors import SpecError

    try:
        ir = compile_spec(spec)
    except SpecError as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "errors": [i.to_dict() for i in exc.issues]}, indent=2))
            raise typer.Exit(2)
        raise
    if ir_out is not None:
        text = ir.to_json()
        if str(ir_out) == "-":
            typer.echo(text)
            return
        ir_out.write_text(text + "\n")
    if as_json:
        from ..compiler.memory import estimate

        memory = estimate(ir)
        typer.echo(json.dumps({
            "valid": True, "name": ir.name, "total_params": ir.param_count,
            "trainable_params": ir.trainable_count, "non_trainable_params": ir.non_trainable_count,
            "memory_bytes": {"weights": memory.weights, "optimizer_state": memory.optimizer, "total": memory.total},
            "layers": [{"name": n.name, "op": n.op, "shape": list(n.shape), "inputs": list(n.inputs),
                        "trainable": n.trainable_count, "non_trainable": n.non_trainable_count} for n in ir.nodes],
        }, indent=2))
        return
    print_summary(ir)
    console.print(f"[green]✓[/green] {spec} is valid")


def schema(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the reference page (Markdown) instead of the JSON Schema."),
    ops: bool = typer.Option(False, "--ops", help="Print the IR op reference (Markdown): every op's attributes, "
                                                   "inputs and parameters (plugin ops included)."),
) -> None:
    """Print the JSON Schema of the spec format (plugin types included), its reference page, or the IR ops."""
    from ..plugins.manager import get_registry

    registry = get_registry()
    if ops:
        from ..compiler.ops import ops_markdown

        text = ops_markdown(registry.ops).rstrip("\n")
    elif markdown:
        from ..spec_schema.reference import reference_markdown

        text = reference_markdown(*(tuple(t.spec_model for t in group.values())
                                    for group in (registry.layers, registry.datasets, registry.callbacks)))
    else:
        from ..spec_schema.json_schema import spec_json_schema

        text = json.dumps(spec_json_schema(registry.spec_model()), indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    for command in (validate, schema):
        app.command()(guarded(command))
