"""The rich console every dnnc output goes through (the CLI's and the runner's progress display)."""

from __future__ import annotations

import os

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A console that does not cut wide tables to 80 columns when output goes to a file or pipe."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal or "COLUMNS" in os.environ else 160
    return Console(stderr=stderr, highlight=False, width=width)
