"""`nastavnik serve` for real: the server on 127.0.0.1, the page in headless Chromium.

Chromium is driven over its DevTools protocol (a websocket, spoken here with aiohttp, which
textual-serve already needs). xterm.js draws on a canvas, so the test reads what reached
each side instead of pixels: the app's output as the page received it (a recorder wraps the
page's WebSocket before its scripts run), and keys typed in the browser as the store sees
them — a pair approved with ``a``, another with ``ф`` (the same key on the Russian layout).
A screenshot is saved in the test's tmp folder for people to look at.

Needs Debian's ``chromium`` package (``make test-tools`` installs it where it can); skipped
with that reason elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import REPO

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = pytest.mark.slow

PAIRS = [("Что такое эпоха?", "Один проход по данным."), ("Что такое LoRA?", "Низкоранговая добавка к весам.")]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--window-size=1280,800",
]
# Runs in the page before its own scripts: everything the app sends to the terminal, as text.
RECORDER = """
(() => {
  const decoder = new TextDecoder();
  window.__appText = "";
  const Native = window.WebSocket;
  function Recorded(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") window.__appText += decoder.decode(new Uint8Array(e.data), {stream: true});
    });
    return ws;
  }
  Recorded.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Recorded[k] = Native[k];
  window.WebSocket = Recorded;
})();
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float = 60.0, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process ended ({proc.returncode}):\n{log.read_text(errors='replace') if log else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{log.read_text(errors='replace') if log else ''}")
        time.sleep(0.1)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _listening(port: int) -> dict[str, list[str]]:
    """The local addresses listening on ``port``, from the kernel's tables (IPv4 and IPv6)."""
    out: dict[str, list[str]] = {}
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        rows = path.read_text().splitlines()[1:] if path.exists() else []
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                out.setdefault(table, []).append(addr)
    return out


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 9))
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def _stop_group(proc: subprocess.Popen) -> None:
    """End a process this test started in its own session, and whatever it started."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class DevTools:
    """The DevTools protocol over one websocket: commands with ids, events kept in order."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.events: list[dict] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            else:
                self.events.append(data)

    async def send(self, method: str, **params):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, 60)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply["result"]

    async def evaluate(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def until(self, expression: str, what: str, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while not (value := await self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting in the page for {what}")
            await asyncio.sleep(0.1)
        return value

    async def key(self, key: str, code: str, vk: int, text: str | None = None) -> None:
        """One key press as a keyboard makes it (down, up); ``text`` for a printable key."""
        down = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk}
        if text is not None:
            down.update(text=text, unmodifiedText=text)
        else:
            down["type"] = "rawKeyDown"
        await self.send("Input.dispatchKeyEvent", **down)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=vk)


def _statuses(home: Path) -> list[str]:
    from core.workspace import Workspace

    with Workspace.open(home).store() as store:
        return [p.status for p in store.list_pairs(limit=None)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`nastavnik serve` on a free port of 127.0.0.1, as a process of its own, on a workspace
    with two draft pairs; stopped (with the apps it started) after the module's tests."""
    from core.workspace import Workspace

    tmp = tmp_path_factory.mktemp("serve")
    home = tmp / "home"
    with Workspace.open(home).store() as store:
        for q, a in PAIRS:
            store.add_pair(q, a)
    port = _free_port()
    log = tmp / "serve.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", "from tui.cli import entry; entry()", "--home", str(home), "--lang", "ru", "serve", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        _wait(lambda: _accepts("127.0.0.1", port), "the server to accept connections", proc=server, log=log)
        yield {"home": home, "port": port, "log": log}
    finally:
        _stop_group(server)


def test_serve_listens_on_127_0_0_1_only_and_its_page_loads_nothing_from_elsewhere(served):
    port = served["port"]
    # the kernel has it listening on the loopback address and nowhere else (no 0.0.0.0, no IPv6)
    assert _listening(port) == {"tcp": ["0100007F"]}, _listening(port)
    outward = _outward_address()
    if outward is not None:
        assert not _accepts(outward, port), f"reachable on {outward}:{port}"
    page = _fetch(f"http://127.0.0.1:{port}/")
    assert "fonts.googleapis.com" not in page
    assert _outside_references(page, port) == [], page
    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page
    font = re.search(r'url\("([^"]+RobotoMono-VariableFont_wght\.ttf)"\)', page)
    assert font and _fetch(font.group(1), binary=True)[:4] == b"\x00\x01\x00\x00"  # a TrueType font, from here


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_app_runs_in_chromium_and_takes_keys_typed_there(served, tmp_path):
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    chromium_log = tmp_path / "chromium.log"
    with open(chromium_log, "wb") as out:
        browser = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        active = profile / "DevToolsActivePort"
        _wait(lambda: active.exists() and len(active.read_text().splitlines()) >= 2, "Chromium's DevTools port",
              proc=browser, log=chromium_log)
        shot = tmp_path / "serve-in-chromium.png"
        asyncio.run(_drive(int(active.read_text().splitlines()[0]), served["port"], served["home"], shot))
        print(f"\nscreenshot of the app in Chromium: {shot}")
    finally:
        _stop_group(browser)


def _fetch(url: str, *, binary: bool = False):
    from urllib.request import urlopen

    with urlopen(url, timeout=30) as r:
        data = r.read()
    return data if binary else data.decode("utf-8")


def _outside_references(page: str, port: int) -> list[str]:
    """Every address the page would load (src, href, url(), the websocket) that is not this server."""
    local = (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/")
    found = re.findall(r"""(?:\bsrc|\bhref|data-[\w-]*url)\s*=\s*["']([^"']*)["']""", page)
    found += re.findall(r"""url\(\s*["']?([^"')]+)""", page)
    return [u for u in found if u and not u.startswith(local)]


async def _drive(devtools_port: int, port: int, home: Path, shot: Path) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{port}/"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{devtools_port}/json/list") as r:
            pages = [t for t in await r.json() if t.get("type") == "page"]
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            cdp = DevTools(ws)
            await cdp.send("Network.enable")
            await cdp.send("Page.enable")
            await cdp.send("Page.addScriptToEvaluateOnNewDocument", source=RECORDER)
            await cdp.send("Page.navigate", url=url)
            # the app started in the page: it drew the pairs table and the status bar's counts
            await cdp.until(f"window.__appText && window.__appText.includes({json.dumps(PAIRS[0][0])})", "the app's pairs table")
            await cdp.until("window.__appText.includes('пар 2')", "the status bar's pair count")
            assert await cdp.evaluate("document.body.classList.contains('-first-byte')")  # the page shows the terminal

            await cdp.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
            await cdp.key("a", "KeyA", 65, text="a")  # approve the pair under the cursor
            await _store_shows(lambda: _statuses(home).count("approved") == 1, "the first pair approved from the browser")
            await cdp.key("ArrowDown", "ArrowDown", 40)
            await cdp.key("ф", "KeyA", 65, text="ф")  # the same key on the Russian layout
            await _store_shows(lambda: _statuses(home) == ["approved", "approved"], "the second pair approved with ф")
            await cdp.until("window.__appText.includes('✓2')", "the app to show both approved")

            png = base64.b64decode((await cdp.send("Page.captureScreenshot", format="png"))["data"])
            shot.write_bytes(png)
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            _assert_drawn(shot)

            # everything the page asked for came from this server
            asked = [e["params"]["request"]["url"] for e in cdp.events if e.get("method") == "Network.requestWillBeSent"]
            asked += [e["params"]["url"] for e in cdp.events if e.get("method") == "Network.webSocketCreated"]
            failed = [e["params"] for e in cdp.events if e.get("method") == "Network.loadingFailed"]
            assert url in asked and f"ws://127.0.0.1:{port}/ws" in [u.split("?")[0] for u in asked], asked
            assert [u for u in asked if not u.startswith((f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/", "data:"))] == []
            assert failed == [], failed
            await cdp.send("Browser.close")


async def _store_shows(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


def _assert_drawn(shot: Path) -> None:
    """The canvas shows something: many colours, not an empty page (when Pillow is here to count)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(shot) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"{shot} looks empty ({len(colours)} colours)"
