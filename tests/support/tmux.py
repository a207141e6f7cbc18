"""The tmux driver of the end-to-end tests: the real app in a real terminal, keys in, screen out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.support.paths import REPO

# this checkout's app, whichever checkout the installed `nastavnik` command was made from
# how a character is drawn: bold, its colour, its background (each colour as its SGR arguments)
Style = tuple[bool, str, str]

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

    def cursor(self) -> tuple[int, int]:
        """Where the terminal's cursor is: (column, row), row 0 the first line ``screen()`` prints.
        Textual puts it at the caret of the focused Input or TextArea (for input methods), so it
        says which field takes the typing; a widget without a caret (a table, a list) taking the
        focus leaves it where the last field put it. A field focused before its first layout (a
        room built on its first visit) puts it where the field was not yet drawn: there, compare
        its look with a field of the same kind without the focus (``wait_focused``)."""
        x, y = self.run("display-message", "-p", "-t", "app", "#{cursor_x} #{cursor_y}").stdout.split()
        return int(x), int(y)

    def wait_cursor(self, predicate, what: str, timeout: float = 30) -> str:
        """Wait until the screen line the cursor is on satisfies ``predicate`` (the field that has
        the caret, known by what that line shows); the screen then."""
        deadline = time.monotonic() + timeout
        screen, at = "", (0, 0)
        while time.monotonic() < deadline:
            at = self.cursor()
            screen = self.screen()
            lines = screen.split("\n")
            if self.cursor() == at and at[1] < len(lines) and predicate(lines[at[1]]):
                return screen  # the cursor did not move while the screen was read
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the cursor was at {at} on the screen:\n{screen}")

    def wait_footer(self, text: str, what: str, timeout: float = 30) -> str:
        """Wait until the footer (the screen's last line) shows ``text``. It lists the keys of the
        widget in focus and of the rooms around it: a room's key there says the focus is in that
        room, and a key of the room sent now reaches it."""
        return self.wait_for(lambda s: text in footer(s), what, timeout)

    def styled(self) -> str:
        """The screen with its colours and attributes (SGR sequences)."""
        return self.run("capture-pane", "-e", "-p", "-t", "app").stdout

    def style_of(self, text: str) -> Style | None:
        """How the first character of ``text`` is drawn now (None: it is not on the screen)."""
        return style_of(self.styled(), text)

    def wait_style(self, text: str, predicate, what: str, timeout: float = 30) -> Style:
        """Wait until the first character of ``text`` is drawn in a style (bold, colour,
        background) that satisfies ``predicate``: a table's cursor row and a focused list or field
        are drawn in other colours than they are without the focus; the style then."""
        deadline = time.monotonic() + timeout
        style = None
        while time.monotonic() < deadline:
            style = self.style_of(text)
            if style is not None and predicate(style):
                return style
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; {text!r} was drawn as {style}; the screen was:\n{self.screen()}")

    def wait_focused(self, text: str, unfocused: str, what: str, timeout: float = 30) -> Style:
        """Wait until the field showing ``text`` (its placeholder) is drawn otherwise than the field
        showing ``unfocused``, one of the same kind and style without the focus: the focus is in
        the first then; its look with the focus."""
        return self.wait_style(text, lambda style: style != self.style_of(unfocused), what, timeout)

    def alive(self) -> bool:
        return self.run("has-session", "-t", "app").returncode == 0

    def quit(self, key: str = "q", timeout: float = 15) -> None:
        """Press ``key`` and wait for the app to end (its session with it); fail if it stays."""
        self.type(key)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not self.alive(), f"{key} did not quit the app:\n" + self.screen()


def footer(screen: str) -> str:
    """The last line of a screen with something on it: the app's footer of keys."""
    lines = [line for line in screen.splitlines() if line.strip()]
    return lines[-1] if lines else ""


_SGR = re.compile(r"\x1b\[([0-9;:]*)m")

def cells(styled_line: str) -> list[tuple[str, Style]]:
    """Each character of a line of ``capture-pane -e`` with how it is drawn."""
    out: list[tuple[str, Style]] = []
    bold, fg, bg = False, "", ""
    pos = 0
    for m in _SGR.finditer(styled_line):
        out.extend((ch, (bold, fg, bg)) for ch in styled_line[pos:m.start()])
        pos = m.end()
        params = m.group(1).split(";")
        i = 0
        while i < len(params):
            p = params[i]
            if p in ("", "0"):
                bold, fg, bg = False, "", ""
            elif p == "1":
                bold = True
            elif p == "22":
                bold = False
            elif p in ("38", "48", "58"):  # a colour: its own arguments follow
                n = {"5": 2, "2": 4}.get(params[i + 1], 0) if i + 1 < len(params) else 0
                colour = ";".join(params[i:i + n + 1])
                if p == "38":
                    fg = colour
                elif p == "48":
                    bg = colour
                i += n
            elif p == "39":
                fg = ""
            elif p == "49":
                bg = ""
            elif len(p) == 2 and p[0] in "349" or len(p) == 3 and p[:2] == "10":  # a colour of the 16
                if p[0] in "39":
                    fg = p
                else:
                    bg = p
            i += 1
    out.extend((ch, (bold, fg, bg)) for ch in styled_line[pos:])
    return out


def style_of(styled: str, text: str) -> Style | None:
    """How the first character of ``text`` is drawn on a styled screen (None: not on it)."""
    for styled_line in styled.splitlines():
        line = cells(styled_line)
        at = "".join(ch for ch, _ in line).find(text)
        if at >= 0:
            return line[at][1]
    return None


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
