"""``nastavnik tui`` and ``nastavnik serve``: open the app in this terminal or in a browser."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import click

from tui.cli import CONTEXT, Ctx, pass_ctx

HOST = "127.0.0.1"


def register(cli: click.Group) -> None:
    cli.add_command(tui)
    cli.add_command(serve)


@click.command(context_settings=CONTEXT)
@pass_ctx
def tui(obj: Ctx) -> None:
    """Open the app (the same as `nastavnik` with no command).

    \b
    Example:
      nastavnik --home ~/my-dataset --lang ru tui
    """
    from tui.app import run_app

    run_app(obj.ws, lang=obj.lang)


def app_command(obj: Ctx) -> str:
    """The shell command textual-serve starts for each browser session."""
    parts = [sys.executable, "-c", "from tui.cli import entry; entry()", "--home", str(obj.ws.home)]
    if obj.lang:
        parts += ["--lang", obj.lang]
    parts.append("tui")
    return shlex.join(parts)


@click.command(context_settings=CONTEXT)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@pass_ctx
def serve(obj: Ctx, port: int) -> None:
    """Serve the app to a web browser on this machine only (127.0.0.1).

    Each browser tab runs its own copy of the app on the same workspace. The server
    listens on 127.0.0.1 only; to reach it from another computer, forward the port
    over SSH (ssh -L 8000:127.0.0.1:8000 host).

    \b
    Example:
      nastavnik serve --port 8080      # then open http://127.0.0.1:8080
    """
    command = app_command(obj)
    click.echo(f"Serving Nastavnik on http://{HOST}:{port} (127.0.0.1 only: not reachable from other machines). Ctrl+C stops.")
    local_server(command, port).serve()


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


def local_server(command: str, port: int):
    """A textual-serve server on 127.0.0.1 whose page asks nothing of any other host."""
    import aiohttp_jinja2
    import jinja2
    from textual_serve.server import Server

    class LocalServer(Server):
        async def _make_app(self):
            app = await super()._make_app()
            page = (Path(self.templates_path) / "app_index.html").read_text(encoding="utf-8")
            aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": offline_page(page)}))
            return app

    return LocalServer(command, host=HOST, port=port, title="Nastavnik")
