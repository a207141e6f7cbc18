"""Stand-ins for the job layer's seams: a worker process that does nothing, a clock that runs ahead.

The job layer reads liveness from a ``core.jobs.Host`` (a clock and a process table); tests
hand it one of these instead of patching module-level names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from core.jobs import pid_alive


@contextmanager
def idle_worker(marker: str) -> Iterator[subprocess.Popen]:
    """A live process in its own session whose command line names ``marker`` (as a worker's
    does) and that does nothing; killed on the way out."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not pid_alive(proc.pid, marker=marker.encode()):  # until it has exec'd
            assert time.monotonic() < deadline, "the stand-in worker did not start"
            time.sleep(0.02)
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait()


class ClockAhead:
    """This machine's clock, ``seconds`` in the future: every heartbeat looks that much older."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeSpawn:
    """The machine's process table, except that ``spawn`` records what it would start and starts
    nothing (its pid names no process: the job is found dead later)."""

    def __init__(self) -> None:
        from core.jobs import SystemProcesses

        self._real = SystemProcesses()
        self.spawned: list[dict] = []

    def alive(self, pid, *, marker: bytes, starting: bool = False) -> bool:
        return self._real.alive(pid, marker=marker, starting=starting)

    def state(self, pid):
        return self._real.state(pid)

    def signal(self, pid, sig: int) -> None:
        self._real.signal(pid, sig)

    def spawn(self, cmd, log_path, *, cwd, env) -> int:
        self.spawned.append({"cmd": cmd, "log_path": log_path, "cwd": cwd, "env": env})
        return 999_999_999
