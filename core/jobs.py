"""Detached jobs (training runs, export jobs): start them, beat their heartbeat, tell live from dead.

A job is a row in the store plus a worker process started in its own session
(``start_new_session=True``) with stdio going to a log file, so it survives the terminal,
the SSH session or the app that started it. Its row records the worker's pid and a
heartbeat the worker refreshes every few seconds; whoever reads the store (the CLI after a
reconnect, a reopened app) decides from those two whether the worker still lives. The kinds
of job differ only in their worker module (the ``marker`` looked for in its command line).
"""

from __future__ import annotations

import os
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
STALE_S = 60.0  # a heartbeat older than this means the worker is gone
HEARTBEAT_S = 2.0


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
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
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
    """Seconds since an ISO timestamp written by the store (infinite for none)."""
    if not stamp:
        return float("inf")
    return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()


# nothing is fetched from a hub by a worker (bases are local folders by the time it starts), and no
# library reports home from it
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "DO_NOT_TRACK": "1", "UNSLOTH_DISABLE_STATISTICS": "1", "TOKENIZERS_PARALLELISM": "false"}


def worker_env(home: Path) -> dict[str, str]:
    """The environment of a worker: this one, unbuffered, no tqdm bars, offline, this repository importable."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1", NASTAVNIK_HOME=str(home))
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def spawn_detached(cmd: list[str], log_path: Path, *, cwd: Path, env: dict[str, str]) -> int:
    """Start ``cmd`` in its own session, stdin closed, stdout and stderr appended to ``log_path``; its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: survives the terminal, SSH, tmux
            cwd=str(cwd),
            env=env,
            close_fds=True,
        )
    return proc.pid


class Heartbeat:
    """A daemon thread calling ``beat()`` every ``every`` seconds until ``stop()``.

    ``beat`` runs in the thread: give it its own store connection (``open_store``), never the
    main thread's. It returns True to ask the worker to stop (a cancel seen in the store);
    ``on_stop`` is then called once, from the thread.
    """

    def __init__(self, open_store: Callable[[], object], beat: Callable[[object], bool], *,
                 on_stop: Callable[[], None] | None = None, every: float = HEARTBEAT_S) -> None:
        self._open_store = open_store
        self._beat = beat
        self._on_stop = on_stop
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        store = self._open_store()
        asked = False
        try:
            while not self._done.wait(self._every):
                if self._beat(store) and not asked and self._on_stop is not None:
                    asked = True
                    self._on_stop()
        finally:
            store.close()
