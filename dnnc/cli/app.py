"""The `dnnc` command line (typer + rich).

Heavy frameworks are imported only by the commands that build models, so
`dnnc validate` and `dnnc schema` stay fast.
"""

from __future__ import annotations

import os
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
    """Console-script entry point.

    A command that calls :func:`~dnnc.cli.errors.exit_quickly_when_done` (``dnnc train`` and ``dnnc resume``, once
    their run directory is complete and its lock released) ends the process with ``os._exit`` after flushing
    stdout, stderr and the logging handlers: the interpreter's shut-down, which tears down the imported
    framework's modules, takes 0.5–0.8 s after torch or TensorFlow was imported (docs/performance.md, "Fixed
    cost") and writes nothing.  ``DNNC_FULL_EXIT=1`` keeps the normal shut-down.
    """
    from . import errors

    code: object = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
        if not (errors.QUICK_EXIT.is_set() and (code is None or isinstance(code, int))):
            raise
    if errors.QUICK_EXIT.is_set() and os.environ.get("DNNC_FULL_EXIT", "") in ("", "0"):
        _flush_and_exit(0 if code is None else int(code))
    raise SystemExit(code)


def _flush_and_exit(code: int) -> None:
    import logging
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            pass
    os._exit(code)
