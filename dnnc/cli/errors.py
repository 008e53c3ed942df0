"""Turning exceptions into messages and exit codes.

Exit codes: 0 success; 1 a failure (a backend or data problem, conformance
FAIL, training stopped on NaN); 2 an invalid spec or invalid command-line
usage.  Every command is wrapped by :func:`guarded`, so user errors print one
message (no traceback) under the console script and under typer's CliRunner
alike.  Set DNNC_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import functools
import os
import threading
import traceback
from typing import Callable, TypeVar

import typer
from rich.markup import escape

from ..compiler.errors import SpecError
from .render import err_console, print_spec_error

EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Set by a command whose work is complete (every file written and closed): the console script may then end
#: the process without the interpreter's shut-down (:func:`dnnc.cli.app.main`).
QUICK_EXIT = threading.Event()


def exit_quickly_when_done() -> None:
    """Let :func:`dnnc.cli.app.main` skip the interpreter's shut-down when this command returns or exits."""
    QUICK_EXIT.set()

F = TypeVar("F", bound=Callable)


class UserError(Exception):
    """A problem the user can fix, reported as one message (exit 1)."""


class UsageError(UserError):
    """Invalid command-line usage (exit 2)."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from ..backends.base import BackendError
    from ..compiler.verify import IRError
    from ..runner.datasets.errors import DataError
    from ..runner.errors import RunnerError

    return (UserError, BackendError, DataError, IRError, RunnerError, FileNotFoundError)


def guarded(fn: F) -> F:
    """Run a command, printing user errors as one line and exiting with the right code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except SpecError as exc:
            print_spec_error(exc)
            raise typer.Exit(EXIT_USAGE) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:
            if exc.filename is None or isinstance(exc, _user_error_types()):
                return _report_other(exc)
            # a file the command reads or writes (an --out, -o or --ir path…): the environment, not dnnc
            where = exc.filename if exc.filename2 is None else f"{exc.filename} → {exc.filename2}"
            err_console.print(f"[red]error[/red]: {escape(str(where))}: {escape(exc.strerror or str(exc))}")
            raise typer.Exit(EXIT_FAILURE) from None
        except MemoryError as exc:
            err_console.print(f"[red]error[/red]: out of memory ({escape(str(exc)) or 'MemoryError'}): the model or "
                              "the data does not fit in this machine's memory")
            raise typer.Exit(EXIT_FAILURE) from None
        except Exception as exc:
            _report_other(exc)

    return wrapper  # type: ignore[return-value]


def _report_other(exc: Exception) -> None:
    """A user error as one line; anything else as an internal error (a bug). Always exits."""
    if isinstance(exc, _user_error_types()):
        err_console.print(f"[red]error[/red]: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILURE) from None
    if os.environ.get("DNNC_DEBUG"):
        traceback.print_exception(exc)
    else:
        err_console.print(f"[red]internal error[/red]: {type(exc).__name__}: {escape(str(exc))}\n"
                          "(a bug in dnnc or a plugin; rerun with DNNC_DEBUG=1 for the traceback)")
    raise typer.Exit(EXIT_FAILURE) from None
