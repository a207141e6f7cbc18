"""One way to start and stop a child process: its environment, its own session, its log, a graceful stop.

Every long child of Nastavnik goes through here: the detached workers of training runs and
exports (their own session, so they survive the terminal, SSH or the app that started them),
llama.cpp's converter (in the export worker's group, so a cancel reaches it) and the chat
model's server. Stopping is the same for all: wake it should it be stopped (SIGCONT), ask
(SIGTERM, to its group when it leads one), wait, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
GRACE_S = 10.0  # how long a child may take to stop once asked

# nothing is fetched from a hub by a worker (bases are local folders by the time it starts), and no
# library reports home from it
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "DO_NOT_TRACK": "1", "UNSLOTH_DISABLE_STATISTICS": "1", "TOKENIZERS_PARALLELISM": "false"}


def child_env(*, paths: tuple[str | Path, ...] = (REPO,), **values: str) -> dict[str, str]:
    """This process's environment with ``paths`` put first on PYTHONPATH and ``values`` set."""
    env = dict(os.environ, **values)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*map(str, paths), env.get("PYTHONPATH", "")) if p)
    return env


def worker_env(home: Path) -> dict[str, str]:
    """The environment of a worker: this one, unbuffered, no tqdm bars, offline, this repository importable."""
    env = child_env(PYTHONUNBUFFERED="1", TQDM_DISABLE="1", NASTAVNIK_HOME=str(home))
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    return env


def start_child(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | str | None = None,
                log_path: Path | None = None, detached: bool = False, stdin: Any = subprocess.DEVNULL,
                stdout: Any = None, stderr: Any = None, **popen: Any) -> subprocess.Popen:
    """Start ``cmd``; with ``log_path`` its stdout and stderr are appended there.

    ``detached``: in its own session (and process group), so it outlives the terminal and
    a stop reaches everything it started; else it stays in this process's group, so a signal
    to that group (a cancelled worker) reaches it too. ``popen``: more ``subprocess.Popen``
    arguments (``text=True``, ``bufsize=1`` for a pipe spoken line by line).
    """
    log: IO[bytes] | None = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - closed below, once the child has its copy
        stdout, stderr = log, subprocess.STDOUT
    try:
        return subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                                cwd=None if cwd is None else str(cwd), start_new_session=detached, close_fds=True, **popen)
    finally:
        if log is not None:
            log.close()  # the child holds its own copy


def spawn_detached(cmd: list[str], log_path: Path, *, cwd: Path, env: dict[str, str]) -> int:
    """Start ``cmd`` in its own session, stdin closed, stdout and stderr appended to ``log_path``; its pid."""
    return start_child(cmd, env=env, cwd=cwd, log_path=log_path, detached=True).pid


def signal_group(pid: int | None, sig: int) -> None:
    """Send ``sig`` to the group ``pid`` leads (a worker and what it started), else to ``pid`` alone."""
    if not pid:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_pid(pid: int | None, alive: Callable[[], bool], *, grace_s: float = GRACE_S,
             send: Callable[[int | None, int], None] = signal_group, sleep: Callable[[float], None] = time.sleep,
             monotonic: Callable[[], float] = time.monotonic) -> bool:
    """Stop the process (group) ``pid`` while ``alive()``: SIGTERM and SIGCONT (a stopped process
    handles the SIGTERM only once it runs), up to ``grace_s`` to go, then SIGKILL; whether it had
    to be killed."""
    if not alive():
        return False
    send(pid, signal.SIGTERM)
    send(pid, signal.SIGCONT)
    deadline = monotonic() + grace_s
    while monotonic() < deadline and alive():
        sleep(0.1)
    if not alive():
        return False
    send(pid, signal.SIGKILL)
    deadline = monotonic() + GRACE_S
    while monotonic() < deadline and alive():
        sleep(0.05)
    return True


def stop_child(proc: subprocess.Popen, *, grace_s: float = GRACE_S, ask: Callable[[], None] | None = None) -> int:
    """Stop a child this process started; its exit code.

    ``ask`` is the polite way first (a ``close`` request down its pipe): the child gets
    ``grace_s`` to exit on it before the signals of ``stop_pid``. A child that leads its own
    group is stopped with that group.
    """
    if proc.poll() is not None:
        return proc.returncode
    if ask is not None:
        ask()
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    leads = _leads_group(proc.pid)

    def send(pid: int | None, sig: int) -> None:
        if leads:
            signal_group(pid, sig)
        elif proc.poll() is None:
            proc.send_signal(sig)

    stop_pid(proc.pid, lambda: proc.poll() is None, grace_s=grace_s, send=send)
    return proc.wait()


def run_child(cmd: list[str], *, log_path: Path, env: dict[str, str] | None = None, cwd: Path | str | None = None,
              grace_s: float = GRACE_S) -> int:
    """Run ``cmd`` to its end with its output appended to ``log_path``; its exit code.

    Should this process be interrupted meanwhile (a cancel raising in its main thread, Ctrl-C)
    the child is stopped with grace before the interruption goes on: nothing is left running.
    """
    proc = start_child(cmd, env=env, cwd=cwd, log_path=log_path)
    try:
        return proc.wait()
    except BaseException:
        stop_child(proc, grace_s=grace_s)
        raise


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False
