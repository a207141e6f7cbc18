"""The machine a job layer looks at — its clock and its process table — as one small object.

Whether a worker lives is read from the store (a heartbeat stamp, a pid) against the clock
and the process table. Both are passed in (``Host``), real by default, so a test gives a
clock an hour ahead or a process table of its own instead of patching module-level names.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core.jobs import process

STALE_S = 60.0  # a heartbeat older than this means the worker is gone
HEARTBEAT_S = 2.0
STOPPED = ("T", "t")  # SIGSTOP (or a debugger): paused, not hung


class Clock(Protocol):
    def now(self) -> datetime: ...  # aware, UTC: compared with the store's stamps

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class ProcessTable(Protocol):
    def alive(self, pid: int | None, *, marker: bytes, starting: bool = False) -> bool: ...

    def state(self, pid: int | None) -> str | None: ...

    def signal(self, pid: int | None, sig: int) -> None: ...

    def spawn(self, cmd: list[str], log_path: Path, *, cwd: Path, env: dict[str, str]) -> int: ...


class SystemClock:
    """The wall clock and the monotonic one of this machine."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SystemProcesses:
    """This machine's processes, read from /proc (``kill(pid, 0)`` where there is none)."""

    def alive(self, pid: int | None, *, marker: bytes, starting: bool = False) -> bool:
        return pid_alive(pid, marker=marker, starting=starting)

    def state(self, pid: int | None) -> str | None:
        return process_state(pid)

    def signal(self, pid: int | None, sig: int) -> None:
        process.signal_group(pid, sig)

    def spawn(self, cmd: list[str], log_path: Path, *, cwd: Path, env: dict[str, str]) -> int:
        return process.spawn_detached(cmd, log_path, cwd=cwd, env=env)


@dataclass(frozen=True)
class Host:
    """What the job layer reads liveness from: a clock, a process table, how old a heartbeat may be."""

    clock: Clock = field(default_factory=SystemClock)
    processes: ProcessTable = field(default_factory=SystemProcesses)
    stale_s: float = STALE_S

    def age_s(self, stamp: str | None) -> float:
        """Seconds since an ISO timestamp written by the store (infinite for none)."""
        if not stamp:
            return float("inf")
        return (self.clock.now() - datetime.fromisoformat(stamp)).total_seconds()


HOST = Host()


def pid_alive(pid: int | None, *, marker: bytes, starting: bool = False) -> bool:
    """True when ``pid`` is a live (not zombie) process whose command line holds ``marker``.

    ``starting``: the process was just spawned and may not have exec'd the worker yet (its
    command line is still the parent's for a moment), so any live process counts.
    """
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        if process_state(pid) in ("Z", "X"):
            return False
        if starting:
            return True
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return marker in cmdline
    except OSError:
        return True  # no /proc: trust kill(0)


def process_state(pid: int | None) -> str | None:
    """The one-letter state of ``pid`` from /proc (``R``, ``S``, ``T`` for stopped, …), or None."""
    if not pid:
        return None
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def age_s(stamp: str | None) -> float:
    """Seconds since an ISO timestamp written by the store, by this machine's clock."""
    return HOST.age_s(stamp)
