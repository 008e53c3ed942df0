"""csv_logger: one CSV row per epoch (Keras's CSVLogger layout, epochs 1-based).

Columns: ``epoch`` then the history keys of the first epoch, sorted; a key
missing in a later epoch is written ``NA``.  ``append = true`` keeps an existing
file and writes the header only if the file is new or empty.  The file is
flushed after every row.  A resumed run cuts the file back to the size it had
at the checkpoint (dropping rows of epochs done again) and appends from there.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .base import Callback


class CsvLogger(Callback):
    def __init__(self, path: str = "history.csv", append: bool = False) -> None:
        self.path_template = str(path)
        self.append = bool(append)
        self._file = None
        self._writer = None
        self.keys: list[str] | None = None
        self.path: Path | None = None

    def on_train_begin(self, logs=None) -> None:
        path = Path(self.path_template)
        run_dir = self.context.run_dir
        self.path = path if path.is_absolute() or run_dir is None else Path(run_dir) / path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._has_header = self.append and self.path.is_file() and self.path.stat().st_size > 0
        self.keys = None
        if not self.context.resumed:  # a resumed run reopens the file in restore()
            self._open("a" if self.append else "w")

    def _open(self, mode: str) -> None:
        self._file = open(self.path, mode, newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.keys is None:
            self.keys = sorted(logs)
            if not self._has_header:
                self._writer.writerow(["epoch", *self.keys])
                self._has_header = True
        self._writer.writerow([epoch + 1, *(_cell(logs.get(k)) for k in self.keys)])
        self._file.flush()

    def state(self) -> dict:
        size = os.fstat(self._file.fileno()).st_size if self._file is not None and not self._file.closed else 0
        return {"keys": self.keys, "has_header": self._has_header, "size": size}

    def restore(self, state: dict) -> None:
        self.keys, self._has_header = state["keys"], state["has_header"]
        if self.path.is_file() and self.path.stat().st_size > state["size"]:
            os.truncate(self.path, state["size"])
        self._open("a")

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


def _cell(value) -> str:
    return "NA" if value is None else repr(float(value))
