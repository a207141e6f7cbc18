"""Both ends of the app processes `nastavnik serve` starts, one per browser connection, so
that none outlives its connection or the server.

textual-serve starts each app through a shell in the server's own process group, asks it to
quit when the connection closes and waits for it without a deadline; when the server stops
with connections open, or dies, the apps keep running (one was found busy 22 minutes after
its tab closed, deaf to SIGTERM). Here:

- the server (``LocalServer``) starts each app without a shell in a process group of its own,
  asks it to quit when its connection closes, and ends the group with SIGTERM and then SIGKILL
  if it has not quit within a few seconds; stopping the server (SIGTERM, SIGINT, SIGHUP) ends
  every app it started and closes their connections;
- the app's driver (``ServedDriver``, named to Textual in the app's environment) ends the app
  when its input ends (the server is gone) and on SIGTERM, SIGHUP and SIGINT, and ends its own
  process group (the app and what it started) if that clean exit has not finished in time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import signal
import threading
from pathlib import Path

from textual import messages
from textual.drivers.web_driver import WebDriver

DRIVER = "tui.serve:ServedDriver"  # the import path Textual loads the app's driver from
QUIT_GRACE_S = 5.0  # how long an app asked to quit may take before its group is ended
EXIT_GRACE_S = 5.0  # how long an app leaving on its own may take before it ends itself
END_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

log = logging.getLogger("nastavnik.serve")


class ServedDriver(WebDriver):
    """Textual's web driver, ending the app when the server goes away or signals it."""

    _leaving = False

    def start_application_mode(self) -> None:
        super().start_application_mode()
        self._loop = asyncio.get_running_loop()
        for sig in END_SIGNALS:
            try:
                self._loop.remove_signal_handler(sig)  # Textual's own reaches the app only through the loop
            except (NotImplementedError, RuntimeError):
                pass
            signal.signal(sig, lambda *_: self.leave())

    def run_input_thread(self) -> None:
        super().run_input_thread()
        if not self.exit_event.is_set():  # the input ended while the app runs: the server is gone
            self.leave()

    def leave(self) -> None:
        """Ask the app to exit; if it has not within ``EXIT_GRACE_S``, end its process group."""
        if self._leaving:
            return
        self._leaving = True
        threading.Thread(target=_end_after, args=(EXIT_GRACE_S,), name="nastavnik-exit-deadline", daemon=True).start()
        self._loop.call_soon_threadsafe(self._app.post_message, messages.ExitApp())


def _end_after(seconds: float) -> None:
    """Runs in a thread of its own, so a stuck main thread cannot hold the app alive."""
    threading.Event().wait(seconds)
    if os.getpgrp() == os.getpid():  # started by LocalServer: the group is the app and what it started
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


# textual-serve ships Roboto Mono in its static folder, but its page links the same font from
# Google: on a machine without internet that request stalls. The page gets it from here.
_FONT_FACES = """<style>
      @font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
      @font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
    </style>"""
_EXTERNAL = re.compile(r"<(?:link|script)\b[^>]*\b(?:href|src)\s*=\s*[\"']?(?:https?:)?//[^>]*>(?:\s*</script>)?", re.I)


def offline_page(template: str) -> str:
    """textual-serve's page template with every stylesheet or script it would fetch from
    another host left out, and its font served from the server's own static folder."""
    return _EXTERNAL.sub("", template).replace("</head>", _FONT_FACES + "\n  </head>", 1)


def local_server(command: str, port: int, host: str = "127.0.0.1"):
    """A textual-serve server on ``host`` whose page asks nothing of any other host and whose
    apps end with their connection and with the server."""
    import aiohttp_jinja2
    import jinja2
    from aiohttp import WSCloseCode, web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int

    class GroupedApp(AppService):
        """One browser connection's app: a process group of its own, ended for sure by ``stop``."""

        _ending: asyncio.Future | None = None

        def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
            return {**super()._build_environment(width, height), "TEXTUAL_DRIVER": DRIVER}

        async def _open_app_process(self, width: int = 80, height: int = 24):
            self._process = process = await asyncio.create_subprocess_exec(
                *shlex.split(self.command),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._build_environment(width, height),
                start_new_session=True,
            )
            self._stdin = process.stdin
            return process

        async def stop(self) -> None:
            """Ask the app to quit, then end its group; safe to call more than once at a time."""
            if self._ending is None:
                self._ending = asyncio.ensure_future(self._end())
            await asyncio.shield(self._ending)

        async def _end(self) -> None:
            await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
            process = self._process
            if process is None:
                return
            if process.returncode is None:
                await self.send_meta({"type": "quit"})
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    if await _ended(process, QUIT_GRACE_S):
                        break
                    _signal_group(process.pid, sig)
                await process.wait()
            _signal_group(process.pid, signal.SIGTERM)  # anything the app started and left behind
            if self._task is not None:
                try:  # the app's output ends with it, unless something it started still holds it
                    await asyncio.wait_for(self._task, QUIT_GRACE_S)
                except asyncio.TimeoutError:
                    pass
                self._task = None

    class LocalServer(Server):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.connections: dict[GroupedApp, web.WebSocketResponse] = {}

        async def _make_app(self):
            app = await super()._make_app()
            page = (Path(self.templates_path) / "app_index.html").read_text(encoding="utf-8")
            aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": offline_page(page)}))
            return app

        async def on_startup(self, app) -> None:
            await super().on_startup(app)
            try:  # a closed terminal stops the server as Ctrl+C does
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.request_exit)
            except NotImplementedError:
                pass

        async def handle_websocket(self, request):
            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            await websocket.prepare(request)
            served = GroupedApp(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            self.connections[served] = websocket
            try:
                await served.start(width, height)
                await self._process_messages(websocket, served)
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("the connection to an app failed")
            finally:
                self.connections.pop(served, None)
                await served.stop()
                await websocket.close()
            return websocket

        async def on_shutdown(self, app) -> None:
            """The server stops: end every app it started and close their connections."""
            open_now = dict(self.connections)
            await asyncio.gather(*(served.stop() for served in open_now), return_exceptions=True)
            await asyncio.gather(
                *(ws.close(code=WSCloseCode.GOING_AWAY) for ws in open_now.values()), return_exceptions=True
            )

    return LocalServer(command, host=host, port=port, title="Nastavnik")


async def _ended(process, seconds: float) -> bool:
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except asyncio.TimeoutError:
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
