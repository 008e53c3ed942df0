"""Where a study lives, and how a trial whose worker died ends FAILED and is tried again.

* **Embedded (the default)**: ``<out>/study.journal``, Optuna's ``JournalStorage``
  on a ``JournalFileBackend``: an append-only log of operations, written under
  a lock file (``JournalFileSymlinkLock``), which several processes on one
  machine may read and append to at once.  It needs nothing installed, and
  unlike SQLite it has no "database is locked" failures when ``--workers N``
  processes write together (SQLite allows one writer and makes the others wait
  or fail).  A lock file left by a process killed while appending is broken
  after ``LOCK_GRACE`` (10) seconds.  ``--storage PATH`` (any path without ``://``) uses a journal file
  elsewhere, e.g. on a shared disk.
* **Any SQLAlchemy URL** (``postgresql://user@host/db``, ``mysql+pymysql://…``,
  ``sqlite:///study.db``): Optuna's ``RDBStorage``, which workers on many
  machines share.  ``postgresql://`` URLs use psycopg 3 (the ``psycopg``
  package) when psycopg2 is not installed.  Every running trial writes a
  heartbeat every ``heartbeat`` seconds; a trial whose heartbeat is older than
  twice that is failed by the next worker that starts a trial, and one retry of
  it (same parameters, state WAITING) is queued for any worker to run
  (Optuna's ``RetryHeartbeatStaleTrialCallback``).

The journal storage has no heartbeat, so dnnc watches the processes itself:
each trial records its worker (``host:pid`` and the process's start time);
``dnnc tune`` fails, and queues one retry of, every RUNNING trial whose worker
on this machine is gone — at once when it is a worker it started itself, and
when a later ``dnnc tune`` opens the study (a whole run that was killed).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import optuna

STUDY_FILE = "study.journal"
#: Retries of a trial whose worker died (1: the trial runs at most twice).
MAX_RETRY = 1
DEFAULT_HEARTBEAT = 60
#: Seconds after which a journal lock file is taken to be left by a killed process (appends take milliseconds).
LOCK_GRACE = 10


def is_url(storage: str | None) -> bool:
    return storage is not None and "://" in storage


def describe(storage: str | None, out_dir: Path) -> str:
    """What the storage is, for messages and results.json (passwords hidden)."""
    if storage is None:
        return f"journal file {Path(out_dir) / STUDY_FILE}"
    if not is_url(storage):
        return f"journal file {storage}"
    from sqlalchemy.engine import make_url

    return f"database {make_url(sql_url(storage)).render_as_string(hide_password=True)}"


def sql_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+psycopg://`` when only psycopg 3 is installed."""
    if url.startswith(("postgresql://", "postgres://")):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_storage(storage: str | None, out_dir: Path, *, heartbeat: int = DEFAULT_HEARTBEAT) -> "optuna.storages.BaseStorage":
    """The Optuna storage for ``--storage`` (None: the embedded journal in ``out_dir``)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not is_url(storage):
        from optuna.storages.journal import JournalFileSymlinkLock

        path = Path(out_dir) / STUDY_FILE if storage is None else Path(storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_lock(path)
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileSymlinkLock(str(path), LOCK_GRACE)))
    return with_retries(lambda: optuna.storages.RDBStorage(
        sql_url(storage),
        heartbeat_interval=heartbeat,
        grace_period=2 * heartbeat,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        engine_kwargs={"pool_pre_ping": True},
    ))


def with_retries(make, attempts: int = 5):
    """``make()``, tried again when a database refuses it because another process did the same at once.

    Workers starting together on a new database race to create its tables and the study (a unique
    name): the losers see an integrity error once, and then find what the winner created.
    """
    import time

    for attempt in range(attempts):
        try:
            return make()
        except Exception as exc:
            if attempt == attempts - 1 or not _is_race(exc):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _is_race(exc: BaseException) -> bool:
    import optuna

    if isinstance(exc, optuna.exceptions.DuplicatedStudyError):
        return True
    return type(exc).__module__.startswith("sqlalchemy") and type(exc).__name__ in ("IntegrityError", "ProgrammingError",
                                                                                  "OperationalError")


def _remove_stale_lock(path: Path) -> None:
    """A lock left by a killed writer (appends hold it for milliseconds): removed when older than LOCK_GRACE."""
    import time

    lock = Path(str(path) + ".lock")
    try:
        if time.time() - lock.lstat().st_mtime > LOCK_GRACE:
            lock.unlink()
    except OSError:
        pass


def retry(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> int | None:
    """Queue a retry of ``trial`` (same parameters) unless it was retried ``MAX_RETRY`` times; its number."""
    import optuna

    history = list(trial.system_attrs.get("retry_history", [])) + [trial.number]
    if len(history) > MAX_RETRY:
        return None
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        system_attrs={"failed_trial": history[0], "retry_history": history}))
    return study.get_trials(deepcopy=False)[-1].number


def fail_trials_of_dead_workers(study: "optuna.Study", storage, *, pid: int | None = None) -> list[tuple[int, int | None]]:
    """Fail every RUNNING trial whose worker on this host is gone (or is ``pid``); queue a retry of each.

    Returns (failed trial number, retry's number or None).
    """
    import optuna

    host = socket.gethostname()
    done = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if not isinstance(worker, str) or ":" not in worker:
            continue
        whose_host, _, whose_pid = worker.rpartition(":")
        if whose_host != host or not whose_pid.isdigit():
            continue
        if pid is not None:
            if int(whose_pid) != pid:
                continue
            reason = f"its worker process {worker} died during the trial"
        elif _alive(int(whose_pid), trial.user_attrs.get("worker_started")):
            continue
        else:
            reason = f"its worker process {worker} is no longer running (killed?)"
        try:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
        except RuntimeError:  # it finished meanwhile
            continue
        done.append((trial.number, retry(study, trial)))
    return done


def _alive(pid: int, started: Any) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if isinstance(started, int):
        now = process_start_ticks(pid)
        return now is None or now == started
    return True


def process_start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), which tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


__all__ = ["DEFAULT_HEARTBEAT", "MAX_RETRY", "STUDY_FILE", "describe", "fail_trials_of_dead_workers", "is_url",
           "open_storage", "process_start_ticks", "retry", "sql_url", "with_retries"]
