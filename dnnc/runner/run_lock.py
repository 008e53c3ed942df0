"""One writer per run directory: the lock a training run holds while it writes its directory.

The lock is the file ``.dnnc.lock`` in the run directory, locked with the
operating system's advisory file lock (``flock``) for as long as the run
writes, and holding the writer's pid, host and start time (for messages).

The rule for a lock left behind: the operating system releases a ``flock``
when the process holding it ends, however it ends (crash, ``kill -9``, power
loss), so a lock file whose lock can be taken belongs to a writer that is
gone, and it is taken over — the new writer says whose lock it took.  A lock
that cannot be taken belongs to a live writer, and a second writer is refused
with the holder's pid, host and start time.

On a file system without ``flock`` support (some network file systems), the
rule falls back to the recorded pid: a lock file written on this host by a
pid that no longer runs is taken over; a lock from another host is never
taken over (delete the file if you know that writer is gone).
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import RunnerError

LOCK_NAME = ".dnnc.lock"


class RunDirLocked(RunnerError):
    """Another process is writing the run directory."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a run directory's lock."""

    pid: int | None
    host: str | None
    started: str | None

    def describe(self) -> str:
        return (f"process {self.pid if self.pid is not None else '?'} on host {self.host or '?'}, "
                f"started {self.started or 'at an unknown time'}")

    @classmethod
    def read(cls, text: str) -> "Holder | None":
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return cls(None, None, None)
        pid = data.get("pid")
        return cls(pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                   data.get("host") if isinstance(data.get("host"), str) else None,
                   data.get("started") if isinstance(data.get("started"), str) else None)


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")}


def _flock(fd: int) -> bool | None:
    """Try the exclusive lock: True taken, False held by another process, None not supported here."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            return None
        raise


def _alive(holder: Holder) -> bool:
    """Fallback rule: could the holder still be running? (Only a pid on this host can be checked.)"""
    if holder.pid is None or holder.host != socket.gethostname():
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


class RunLock:
    """The lock of one run directory, held from :meth:`acquire` until :meth:`release`."""

    def __init__(self, path: Path, fd: int, taken_over: Holder | None) -> None:
        self.path = path
        self._fd: int | None = fd
        #: The writer whose lock was left behind and taken over (it had ended without releasing it), if any.
        self.taken_over = taken_over

    @classmethod
    def acquire(cls, run_dir: Path) -> "RunLock":
        """Lock ``run_dir`` (which must exist); raise :class:`RunDirLocked` naming a live holder."""
        path = Path(run_dir) / LOCK_NAME
        for _ in range(10):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                taken = _flock(fd)
                previous = Holder.read(_read(fd))
                if taken is False or (taken is None and previous is not None and _alive(previous)):
                    holder = previous.describe() if previous is not None else "another process"
                    raise RunDirLocked(f"{run_dir} is being written by another run ({holder}); wait for it to "
                                       "finish or choose another --out")
                try:
                    same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
                except FileNotFoundError:
                    same_file = False
                if not same_file:  # the previous holder released (removed) the file meanwhile: start again
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(_me()) + "\n").encode(), 0)
                return cls(path, fd, previous)
            except BaseException:
                os.close(fd)
                raise
        raise RunDirLocked(f"{run_dir}: could not take the run directory's lock ({path} keeps changing)")

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                os.unlink(self.path)  # before the lock is released, so a waiter sees the file changed
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None
