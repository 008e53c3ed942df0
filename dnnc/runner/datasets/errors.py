"""Errors raised while locating, reading and preparing data.

Every message names the file or place concerned, what was found and what was
expected, so the CLI can print it as it is, without a traceback.
"""

from __future__ import annotations


class DataError(Exception):
    """A problem with the data a spec asks for: missing, unreadable or inconsistent."""


class DatasetNotFound(DataError):
    """A standard data set's files are nowhere to be found and could not be downloaded.

    ``places`` holds one line per place searched, in search order.
    """

    def __init__(self, message: str, places: list[str] | None = None) -> None:
        super().__init__(message)
        self.places = list(places or [])
