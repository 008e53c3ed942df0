"""A minimal TensorBoard event-file writer that needs neither TensorFlow nor PyTorch.

It uses only the ``tensorboard`` package's protobuf messages
(``tensorboard.compat.proto``) and its TFRecord framing
(``tensorboard.summary.writer.record_writer.RecordWriter``, masked CRC32C),
writing to a plain Python file.  ``tensorboard``'s own ``EventFileWriter`` is
not used because it goes through ``tensorboard.compat.tf``, which imports
TensorFlow whenever it is installed (seconds of start-up).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

_counter = itertools.count()


class ScalarEventWriter:
    """Appends scalar summaries to one ``events.out.tfevents.*`` file in ``log_dir``."""

    def __init__(self, log_dir: str | Path, *, existing: str | Path | None = None, size: int | None = None) -> None:
        """A new event file in `log_dir`, or with `existing` that file, cut back to `size` bytes, to append to."""
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._event_pb2 = event_pb2
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if existing is None:
            name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_counter)}.dnnc"
            self.path = self.log_dir / name
            self._file = open(self.path, "wb")
        else:
            self.path = self.log_dir / Path(existing).name
            self._file = open(self.path, "ab")
            if size is not None and self.size() > size:
                self._file.truncate(size)
        self._writer = RecordWriter(self._file)
        if existing is None:
            self._write(event_pb2.Event(wall_time=time.time(), step=0, file_version="brain.Event:2"))
            self.flush()

    def size(self) -> int:
        """Bytes in the file (everything written, after :meth:`flush`)."""
        return os.fstat(self._file.fileno()).st_size

    def _write(self, event) -> None:
        self._writer.write(event.SerializeToString())

    def scalars(self, values: dict[str, float], step: int) -> None:
        """One event holding every ``tag → value`` at ``step``."""
        from tensorboard.compat.proto import summary_pb2

        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()]
        )
        self._write(self._event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()
