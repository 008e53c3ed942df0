"""Errors the runner reports to the user (the CLI prints them as one line, exit 1)."""

from __future__ import annotations


class RunnerError(Exception):
    """A problem with a training, evaluation or prediction run: the message says what and how to fix it."""


class ShapeMismatch(RunnerError):
    """The data's per-sample shape differs from the model's input or output shape."""
