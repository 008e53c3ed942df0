"""The `dnnc` command line (typer + rich).

Heavy frameworks are imported only by the commands that build models, so
`dnnc validate` and `dnnc schema` stay fast.
"""

from __future__ import annotations

from typing import Optional

import typer

from .._version import __version__
from . import (commands_backends, commands_build, commands_conform, commands_export, commands_inspect, commands_run,
               commands_spec, commands_tune)

app = typer.Typer(
    name="dnnc",
    help="Compile one declarative network spec (TOML/JSON) into equivalent Keras and PyTorch models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dnnc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """dnnc: one spec, one model, in every backend."""


commands_spec.register(app)
commands_backends.register(app)
commands_build.register(app)
commands_conform.register(app)
commands_run.register(app)
commands_inspect.register(app)
commands_tune.register(app)
commands_export.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
