"""Commands that run models: train, evaluate, predict, conform."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
