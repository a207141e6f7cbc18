"""The tmux driver of the end-to-end tests: the real app in a real terminal, keys in, screen out."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.paths import REPO

# this checkout's app, whichever checkout the installed `nastavnik` command was made from
APP = f"cd {REPO} && {sys.executable} -c 'from tui.cli import entry; entry()'"


class Tmux:
    """One private tmux server (its own socket), so nothing else running is touched."""

    def __init__(self, name: str, env: dict) -> None:
        self.socket = name
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env, timeout=30)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app").stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "app", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "app", "-l", text)

    def wait_for(self, predicate, what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")

    def alive(self) -> bool:
        return self.run("has-session", "-t", "app").returncode == 0

    def quit(self, key: str = "q", timeout: float = 15) -> None:
        """Press ``key`` and wait for the app to end (its session with it); fail if it stays."""
        self.type(key)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not self.alive(), f"{key} did not quit the app:\n" + self.screen()


def app_env(home: Path) -> dict:
    """The environment of an app under test: outside any tmux of the caller's, a 256-colour UTF-8
    terminal, ``home`` as the workspace, and this checkout's code first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8", NASTAVNIK_HOME=str(home), TEXTUAL_FPS="30",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return env


def start_app(name: str, home: Path, *, lang: str = "ru", size: tuple[int, int] = (80, 24), program: str = APP) -> Tmux:
    """Start ``program`` (the app) on ``home`` in ``lang`` in a detached ``size`` terminal, session
    ``app`` of a private tmux server named after ``name`` and this process; the caller kills the
    server (``tmux.run("kill-server")``) when done."""
    tmux = Tmux(f"nastavnik-{name}-{os.getpid()}", app_env(home))
    width, height = size
    command = f"{program} --home {home} --lang {lang}"
    assert tmux.run("new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), command).returncode == 0
    return tmux
