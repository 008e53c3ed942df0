"""`dnnc backends`: the installed backends, their frameworks, supported ops, name conflicts and plugin errors."""

from __future__ import annotations

import json

import typer

from .errors import guarded
from .render import console


def backends(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the installed backends: available or why not, framework version, supported ops; then the names
    several plugins register (conflicts) and the plugins that failed."""
    from rich.markup import escape
    from rich.table import Table

    from ..compiler.lower_layers import CORE_OPS
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
        origin = registry.origin("dnnc_backends", name)
        rows.append({"name": name, "available": ok, "detail": detail,
                     "plugin": origin.name if origin else "?", "distribution": origin.distribution if origin else "",
                     "ops": sorted(backend.supported_ops), "missing_core_ops": missing, "extra_ops": extra})
    conflicts = [c.to_dict() for c in registry.conflicts]
    failures = [{"plugin": f.plugin, "error": f.error} for f in registry.failures]
    if as_json:
        typer.echo(json.dumps({"backends": rows, "conflicts": conflicts, "plugin_errors": failures}, indent=2))
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
    for c in registry.conflicts:
        if c.kind == "backend" and c.ambiguous:
            who = ", ".join(p.distribution or p.name for p in c.plugins)
            table.add_row(c.name, "[red]ambiguous[/red]", escape(f"registered by {who}: see the conflicts below"), "—")
    console.print(table)
    if not rows:
        console.print(r"no backend is installed (pip install 'dnnc\[keras]' or 'dnnc\[torch]')")
    for c in registry.conflicts:
        console.print(f"[yellow]conflict:[/yellow] {escape(c.render())}")
    for f in failures:
        console.print(f"[yellow]plugin {escape(repr(f['plugin']))} failed:[/yellow] {escape(f['error'])}")


def register(app: typer.Typer) -> None:
    app.command()(guarded(backends))
