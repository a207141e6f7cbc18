"""`nastavnik serve` leaves no app process behind: the app started for a connection ends when
the connection closes, when the server is stopped with SIGTERM, and when the server dies
(SIGKILL) under it; an app deaf to the quit request and to SIGTERM is killed. Each test opens a websocket as the page does (aiohttp, which
textual-serve already needs), finds the app in the process table and waits until neither it
nor anything in its process group is left; every wait is for a state, with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import REPO

DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a live process, None when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else (fields[0], int(fields[1]), int(fields[2]))


def _processes() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _apps(server: int, last_arg: bytes = b"tui") -> list[int]:
    """The app processes below the server (its children or their children): `nastavnik … tui`."""
    below, found = {server}, []
    for _ in range(3):
        below |= {p for p in _processes() if (st := _stat(p)) is not None and st[1] in below}
    for pid in below - {server}:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if argv and argv[-1] == last_arg and Path(argv[0].decode()).name.startswith("python"):
            found.append(pid)
    return found


def _left(app: int) -> list[int]:
    """The app, if it still runs, and every process in its process group."""
    return [p for p in _processes() if (st := _stat(p)) is not None and (p == app or st[2] == app)]


def _wait(predicate, what: str, log: Path | None = None, timeout: float = DEADLINE_S):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{log.read_text(errors='replace') if log else ''}")
        time.sleep(0.1)
    return value


async def _await(predicate, what: str, log: Path | None = None, timeout: float = DEADLINE_S):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{log.read_text(errors='replace') if log else ''}")
        await asyncio.sleep(0.1)
    return value


def _start_server(code: str, *args: str, log: Path) -> subprocess.Popen:
    """``python -c code args…`` in a session of its own, output to ``log``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )


# an "app" that tells textual-serve it started and then ignores the quit request and SIGTERM
DEAF_APP = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('__GANGLION__', flush=True); time.sleep(600)"
)


@pytest.fixture
def served(tmp_path, request):
    """`nastavnik serve` on a free port, in a session of its own; whatever is left of it and of
    the apps it started is ended after the test (and makes the test fail there)."""
    from core.workspace import Workspace

    home = tmp_path / "home"
    with Workspace.open(home).store() as store:
        store.add_pair("Что такое эпоха?", "Один проход по данным.")
    port = _free_port()
    log = tmp_path / "serve.log"
    if getattr(request, "param", None) == "deaf":  # the server of `nastavnik serve` with a deaf app
        import shlex

        command = shlex.join([sys.executable, "-c", DEAF_APP, "deaf"])
        server = _start_server(f"from tui.serve import local_server; local_server({command!r}, {port}).serve()", log=log)
    else:
        server = _start_server("from tui.cli import entry; entry()", "--home", str(home), "serve", "--port", str(port), log=log)
    apps: list[int] = []
    try:
        def accepts() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"serve ended ({server.returncode}):\n{log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        _wait(accepts, "the server to accept connections", log)
        yield {"server": server, "port": port, "log": log, "apps": apps}
    finally:
        leftovers = [p for app in apps for p in _left(app)]
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(server.pid, signal.SIGKILL)  # the server's session: the server and what stayed in it
        except ProcessLookupError:
            pass
        server.wait(timeout=30)
        assert leftovers == [], f"app processes left behind: {leftovers}"


async def _connect(served, http, app_arg: bytes = b"tui", draws: bool = True):
    """A connection as the page makes it; returns it once its app runs and has drawn."""
    ws = await http.ws_connect(f"http://127.0.0.1:{served['port']}/ws?width=80&height=24")
    received: list[bytes] = []

    async def read() -> None:
        async for message in ws:
            if isinstance(message.data, bytes):
                received.append(message.data)

    reader = asyncio.ensure_future(read())
    known = served["apps"]
    apps = await _await(lambda: [p for p in _apps(served["server"].pid, app_arg) if p not in known],
                        "the app process for the connection", served["log"])
    assert len(apps) == 1, apps
    known.append(apps[0])
    if draws:
        await _await(lambda: b"".join(received), "the app to draw", served["log"])
    return ws, reader, apps[0]


def _session(coro_fn):
    import aiohttp

    async def body():
        async with aiohttp.ClientSession() as http:
            await coro_fn(http)

    asyncio.run(body())


def test_closing_the_connection_ends_its_app_and_the_server_stays(served):
    async def run(http) -> None:
        ws, reader, app = await _connect(served, http)
        assert _stat(app)[2] == app  # a process group of its own, so all it started can be ended
        await ws.close()
        await _await(lambda: not _left(app), "the app and its group to end after the connection closed", served["log"])
        assert served["server"].poll() is None  # a closed tab does not stop the server
        await reader

    _session(run)


def test_stopping_serve_with_sigterm_ends_every_app_it_started(served):
    async def run(http) -> None:
        first = await _connect(served, http)
        second = await _connect(served, http)
        server = served["server"]
        server.send_signal(signal.SIGTERM)
        await _await(lambda: server.poll() is not None, "serve to stop on SIGTERM", served["log"])
        for _, _, app in (first, second):
            await _await(lambda: not _left(app), f"app {app} to end with the server", served["log"])

    _session(run)


def test_an_app_whose_server_died_ends_itself(served):
    async def run(http) -> None:
        _, _, app = await _connect(served, http)
        served["server"].kill()  # no chance to clean up: the app has to notice on its own
        await _await(lambda: not _left(app), "the app to end after its server died", served["log"])

    _session(run)


def test_an_app_ends_on_its_own_sigterm_and_its_connection_closes(served):
    async def run(http) -> None:
        ws, reader, app = await _connect(served, http)
        os.kill(app, signal.SIGTERM)
        await _await(lambda: not _left(app), "the app to end on SIGTERM", served["log"])
        await asyncio.wait_for(reader, DEADLINE_S)  # the server closed the page's connection
        assert ws.closed

    _session(run)


@pytest.mark.parametrize("served", ["deaf"], indirect=True)
def test_an_app_deaf_to_quit_and_sigterm_is_killed_when_its_connection_closes(served):
    async def run(http) -> None:
        ws, _, app = await _connect(served, http, app_arg=b"deaf", draws=False)
        await ws.close()
        await _await(lambda: not _left(app), "the deaf app to be killed", served["log"])
        assert served["server"].poll() is None

    _session(run)
