"""The tmux driver of the end-to-end tests: the real app in a real terminal, keys in, screen out."""

from __future__ import annotations

import subprocess
import time


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
