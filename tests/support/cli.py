"""Running `dnnc conform` in-process through typer's CliRunner (the command alone, as a sub-command)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from dnnc.cli import commands_conform


def conform_app() -> typer.Typer:
    app = typer.Typer()
    commands_conform.register(app)

    @app.callback()
    def _root() -> None:  # keep `conform` a sub-command
        pass

    return app


def conform_cli(*args):
    """`dnnc conform ARGS…`: the CliRunner result (exit_code, output)."""
    return CliRunner().invoke(conform_app(), ["conform", *map(str, args)])
