"""Commands that work on a spec or a model: validate, schema, backends, build, convert."""

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
        typer.echo(json.dumps({
            "valid": True, "name": ir.name, "total_params": ir.param_count,
            "trainable_params": ir.trainable_count, "non_trainable_params": ir.non_trainable_count,
            "layers": [{"name": n.name, "op": n.op, "shape": list(n.shape), "inputs": list(n.inputs),
                        "trainable": n.trainable_count, "non_trainable": n.non_trainable_count} for n in ir.nodes],
        }, indent=2))
        return
    print_summary(ir)
    console.print(f"[green]✓[/green] {spec} is valid")


def schema(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the reference page (Markdown) instead of the JSON Schema."),
) -> None:
    """Print the JSON Schema of the spec format (plugin types included), or its reference page."""
    from ..plugins.manager import get_registry

    registry = get_registry()
    if markdown:
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


def backends(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the installed backends: available or why not, framework version, supported ops."""
    from rich.table import Table

    from ..compiler.ops import CORE_OPS
    from ..plugins.manager import get_registry

    registry = get_registry()
    rows = []
    for name, backend in sorted(registry.backends.items()):
        try:
            ok, detail = backend.status()
        except Exception as exc:  # a broken backend must not break the listing
            ok, detail = False, f"status() raised {type(exc).__name__}: {exc}"
        missing = sorted(CORE_OPS - backend.supported_ops)
        extra = sorted(backend.supported_ops - CORE_OPS)
        rows.append({"name": name, "available": ok, "detail": detail,
                     "plugin": registry.origins.get("dnnc_backends" + name, "?"),
                     "ops": sorted(backend.supported_ops), "missing_core_ops": missing, "extra_ops": extra})
    failures = [{"plugin": f.plugin, "error": f.error} for f in registry.failures]
    if as_json:
        typer.echo(json.dumps({"backends": rows, "plugin_errors": failures}, indent=2))
        return
    table = Table(title="Backends", title_justify="left")
    for col in ("Backend", "Status", "Framework / reason", "Ops"):
        table.add_column(col)
    for r in rows:
        ops = "all core ops" if not r["missing_core_ops"] else "missing: " + ", ".join(r["missing_core_ops"])
        if r["extra_ops"]:
            ops += "; plus " + ", ".join(r["extra_ops"])
        status = "[green]available[/green]" if r["available"] else "[red]unavailable[/red]"
        table.add_row(r["name"], status, r["detail"], ops)
    console.print(table)
    if not rows:
        console.print(r"no backend is installed (pip install 'dnnc\[keras]' or 'dnnc\[torch]')")
    for f in failures:
        console.print(f"[yellow]plugin {f['plugin']!r} failed:[/yellow] {f['error']}")


def register(app: typer.Typer) -> None:
    for command in (validate, schema, backends):
        app.command()(guarded(command))
