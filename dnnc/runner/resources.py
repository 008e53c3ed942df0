"""Refusing, before anything is allocated, a model the machine cannot hold.

:func:`check_memory` compares the model's weights plus optimizer state
(:func:`dnnc.compiler.memory.estimate`, a lower bound of what training needs)
with the memory available now, read from the operating system:

* ``psutil.virtual_memory().available`` when psutil is installed, else
  ``MemAvailable`` in ``/proc/meminfo`` (Linux);
* on Linux, also the room left under the process's cgroup-v2 memory limit
  (``memory.max`` − ``memory.current`` + the inactive file cache of ``memory.stat``), when that is
  smaller (containers);
* when neither can be read (another OS without psutil), nothing is refused.
"""

from __future__ import annotations

from pathlib import Path

from ..compiler.ir import ModelIR
from ..compiler.memory import estimate, format_bytes
from .errors import RunnerError

MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


class InsufficientMemory(RunnerError):
    """The model's weights and optimizer state do not fit in the memory available."""


def available_memory() -> tuple[int, str] | None:
    """(bytes available, where the figure comes from), or None when the OS does not say."""
    found: list[tuple[int, str]] = []
    try:
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        psutil = None
    if psutil is not None:
        found.append((int(psutil.virtual_memory().available), "psutil"))
    else:
        meminfo = _meminfo_available()
        if meminfo is not None:
            found.append((meminfo, f"MemAvailable in {MEMINFO}"))
    room = _cgroup_room()
    if room is not None:
        found.append((room, f"the cgroup memory limit ({CGROUP}/memory.max)"))
    return min(found) if found else None


def check_memory(ir: ModelIR, action: str) -> None:
    """Raise :class:`InsufficientMemory` if ``ir``'s weights plus optimizer state exceed the available memory."""
    need = estimate(ir)
    have = available_memory()
    if have is None or need.total <= have[0]:
        return
    raise InsufficientMemory(
        f"cannot {action} model {ir.name!r}: it needs {format_bytes(need.total)} ({need.describe()}; "
        f"{ir.param_count:,} parameters of 4 bytes), more than the {format_bytes(have[0])} of memory available "
        f"({have[1]}); make the layers smaller"
    )


def _meminfo_available() -> int | None:
    try:
        text = MEMINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            try:
                return int(parts[1]) * (1024 if parts[2:3] == ["kB"] else 1)
            except (IndexError, ValueError):
                return None
    return None


def _cgroup_room() -> int | None:
    """memory.max − (memory.current − inactive_file) of this process's cgroup (v2), when there is a limit
    (inactive file cache is reclaimed before the limit is hit, so it does not count as used)."""
    try:
        entries = PROC_CGROUP.read_text().strip().splitlines()
        relative = next(line.split(":", 2)[2] for line in entries if line.startswith("0::"))
        group = CGROUP / relative.lstrip("/")
        limit = (group / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((group / "memory.current").read_text().strip())
        for line in (group / "memory.stat").read_text().splitlines():
            if line.startswith("inactive_file "):
                used -= int(line.split()[1])
        return max(int(limit) - max(used, 0), 0)
    except (OSError, StopIteration, ValueError, IndexError):
        return None
