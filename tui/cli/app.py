"""``nastavnik tui`` and ``nastavnik serve``: open the app in this terminal or in a browser."""

from __future__ import annotations

import shlex
import sys

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

    Each browser tab runs its own copy of the app on the same workspace; closing the tab
    ends it, and stopping the server ends them all. The server listens on 127.0.0.1 only; to reach it from another computer, forward the port
    over SSH (ssh -L 8000:127.0.0.1:8000 host).

    \b
    Example:
      nastavnik serve --port 8080      # then open http://127.0.0.1:8080
    """
    command = app_command(obj)
    click.echo(f"Serving Nastavnik on http://{HOST}:{port} (127.0.0.1 only: not reachable from other machines). Ctrl+C stops.")
    from tui.serve import local_server

    local_server(command, port, HOST).serve()
