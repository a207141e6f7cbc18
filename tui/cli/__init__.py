"""The ``nastavnik`` command: every action of the app, scriptable.

Each subcommand group lives in its own module here and calls ``core/`` functions; heavy
libraries load only inside the commands that need them, so ``--help`` stays fast.
A ``UserError`` prints the command that failed, its message and its hint on one line of
stderr and exits 2 (``report_user_error``, the one place that does). Long steps draw their
``core.progress.ProgressEvent``s through ``ProgressPrinter``, the one progress printer.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from core.errors import UserError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Ctx:
    home: str | None
    lang: str | None

    _ws = None

    @property
    def ws(self):
        if self._ws is None:
            from core.workspace import Workspace

            self._ws = Workspace.open(self.home)
        return self._ws

    def store(self):
        return self.ws.store()


pass_ctx = click.make_pass_decorator(Ctx)


def emit_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def job_started(job, as_json: bool, kind: str, what: str, group: str) -> None:
    """A detached background job's answer: its record as JSON, or the line that names the
    ``kind`` of job and ``what`` it works on, its log, and the ``group``'s command that follows it."""
    if as_json:
        emit_json(job.to_dict())
    else:
        click.echo(f"{kind} job {job.id} started: {what}; log: {job.log_path}")
        click.echo(f"follow it with `nastavnik {group} show {job.id} --follow`")


def history_command(group: click.Group, id_name: str, doc: str, read: Callable, echo_revision: Callable,
                    echo_current: Callable) -> None:
    """Adds ``<group> history ID [--json]`` to ``group``: every earlier state of one item, oldest
    first, then the item now. ``read(store, id)`` gives (revisions, current); the two printers
    draw a revision and the item — the only parts pairs and preference pairs do differently."""

    @group.command("history", context_settings=CONTEXT, help=doc)
    @click.argument(id_name, type=int)
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def history(obj: Ctx, as_json: bool, **item_id: int) -> None:
        with obj.store() as store:
            revs, current = read(store, *item_id.values())
        if as_json:
            emit_json({"current": current.to_dict(), "revisions": [r.__dict__ for r in revs]})
            return
        for r in revs:
            echo_revision(r)
        click.echo("now:")
        echo_current(current)


def undo_command(group: click.Group, doc: str) -> None:
    """Adds ``<group> undo`` to ``group``: one undo stack spans pairs and preference pairs, so
    both groups offer the same step back."""

    @group.command("undo", context_settings=CONTEXT, help=doc)
    @pass_ctx
    def undo(obj: Ctx) -> None:
        with obj.store() as store:
            action = store.undo()
        click.echo(f"undone: {action.summary}" if action else "nothing to undo")


def cancel_command(group: click.Group, name: str, id_name: str, doc: str, cancel: Callable, said: Callable) -> None:
    """Adds ``<group> <name> ID [--json]`` to ``group``: stop one background job (a run, an export)
    through ``cancel(ws, id)`` and print the job as it ended (``said(job)``, or its JSON)."""

    @group.command(name, context_settings=CONTEXT, help=doc)
    @click.argument(id_name, type=int)
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def cancel_job(obj: Ctx, as_json: bool, **job_id: int) -> None:
        job = cancel(obj.ws, *job_id.values())
        if as_json:
            emit_json(job.to_dict())
        else:
            click.echo(said(job))


def list_command(group: click.Group, doc: str, read: Callable, empty: str) -> None:
    """Adds ``<group> list [--json]`` to ``group``: every background job of one kind (exports,
    downloads), newest first. ``read(ws, store)`` refreshes them and gives the rows and how one is
    drawn as a line; ``empty`` is said when there are none."""

    @group.command("list", context_settings=CONTEXT, help=doc)
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def list_jobs(obj: Ctx, as_json: bool) -> None:
        with obj.store() as store:
            rows, line = read(obj.ws, store)
        if as_json:
            emit_json([j.to_dict() for j in rows])
            return
        if not rows:
            click.echo(empty)
        for j in rows:
            click.echo(line(j))


def show_command(group: click.Group, doc: str, follow_help: str, read: Callable, follow: Callable) -> None:
    """Adds ``<group> show ID [--follow] [--json]`` to ``group``: one background job (an export, a
    download). ``read(ws, store, id)`` refreshes the jobs and gives the row and how it is printed
    (``echo(job)``); ``follow(obj, job, as_json)`` draws its progress until it ends and gives the row
    to show then (None: nothing more to say, as after Ctrl+C)."""

    @group.command("show", context_settings=CONTEXT, help=doc)
    @click.argument("job_id", type=int)
    @click.option("--follow", "following", is_flag=True, help=follow_help)
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def show_job(obj: Ctx, job_id: int, following: bool, as_json: bool) -> None:
        with obj.store() as store:
            job, echo = read(obj.ws, store, job_id)
        if following and job.active:
            job = follow(obj, job, as_json)
            if job is None:
                return
        if as_json:
            emit_json(job.to_dict())
        else:
            echo(job)


def follow_job(wait: Callable, *, quiet: bool, key: Callable, event: Callable, stopped: str, label: str = ""):
    """Draw a background job's progress until it ends: the ended row, or None after Ctrl+C, which
    stops the following, not the job (``stopped`` says so on stderr). ``wait(on_update)`` blocks
    until the job ends; ``key(row)`` changes when there may be something new to draw, ``event(row)``
    is the ``ProgressEvent`` drawn then (None: nothing)."""
    seen = {"key": None}
    with ProgressPrinter(label, quiet=quiet) as progress:

        def update(j) -> None:
            new = key(j)
            if new != seen["key"]:
                drawn = event(j)
                if drawn is not None:
                    seen["key"] = new
                    progress(drawn)

        try:
            return wait(update)
        except KeyboardInterrupt:
            progress.close()
            click.echo(stopped, err=True)
            return None


class ProgressPrinter:
    """The one way a command draws ``core.progress.ProgressEvent``s, on stderr.

    On a terminal: one line redrawn in place (``[stage] done/total message``), a new line when
    the stage changes or ends. Otherwise plain lines: a stage's first and last event, and one
    every ``every_s`` seconds between. ``quiet`` (``--json``) draws nothing; ``lines=False``
    draws nothing when stderr is not a terminal (a short step whose result line says it all).
    Use it as a context manager (or call ``close()``) to finish a line left open at the end.
    """

    def __init__(self, label: str = "", *, quiet: bool = False, lines: bool = True, every_s: float = 2.0,
                 tty: bool | None = None) -> None:
        self.label = f"{label}: " if label else ""
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.quiet = quiet or (not lines and not self.tty)
        self.every_s = every_s
        self._stage: str | None = None
        self._last = 0.0
        self._open = False  # a redrawn line is on the terminal, not ended yet

    def line(self, e) -> str:
        counts = f" {e.done}/{e.total}" if e.total and e.total > 1 else (f" {e.done}" if e.total is None and e.done else "")
        return f"{self.label}[{e.stage}]{counts}" + (f" {e.message}" if e.message else "")

    def __call__(self, e) -> None:
        if self.quiet:
            return
        import time

        now, new_stage = time.monotonic(), e.stage != self._stage
        due = new_stage or e.finished or now - self._last >= (0.05 if self.tty else self.every_s)
        self._stage = e.stage
        if not due:
            return
        self._last = now
        if not self.tty:
            click.echo(self.line(e), err=True)
            return
        import shutil

        if new_stage and self._open:
            click.echo("", err=True)
        width = shutil.get_terminal_size((100, 24)).columns - 1
        # \x1b[K clears what a longer line before left; color=True keeps it (this is a terminal)
        click.echo("\r" + self.line(e)[:width] + "\x1b[K", err=True, nl=e.finished, color=True)
        self._open = not e.finished

    def close(self) -> None:
        if self._open:
            click.echo("", err=True)
            self._open = False

    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_ids(values: tuple[str, ...]) -> list[int]:
    """``3 5 7-9 12,14`` → [3, 5, 7, 8, 9, 12, 14]."""
    out: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                if "-" in part.lstrip("-"):
                    lo, hi = part.split("-", 1)
                    out.extend(range(int(lo), int(hi) + 1))
                else:
                    out.append(int(part))
            except ValueError:
                raise UserError(f"{part!r} is not a pair id", hint="give ids like 12, 12,15 or 12-20") from None
    if not out:
        raise UserError("no pair id given", hint="give ids like 12, 12,15 or 12-20")
    return out


@click.group(invoke_without_command=True, context_settings=CONTEXT)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=str),
    envvar="NASTAVNIK_HOME",
    help="Workspace folder (default: $NASTAVNIK_HOME, else $XDG_DATA_HOME/nastavnik).",
)
@click.option("--lang", type=click.Choice(["ru", "en"]), help="Language of the app (default: settings, then locale).")
@click.version_option(package_name="nastavnik")
@click.pass_context
def cli(ctx: click.Context, home: str | None, lang: str | None) -> None:
    """Nastavnik: curate a Q&A dataset, fine-tune a small LLM on it, chat with it, grade it.

    Run with no command to open the app. Every action of the app is also a command:

    \b
      nastavnik pairs import data.jsonl       # bring in pairs from any common format
      nastavnik pairs list --status approved  # see them
      nastavnik pairs search "обучение"       # find by a word or part of one
      nastavnik pairs export out.jsonl        # write them for other tools
    """
    ctx.obj = Ctx(home=home, lang=lang)
    if ctx.invoked_subcommand is None:
        _open_app(ctx.obj)


def _open_app(obj: Ctx) -> None:
    try:
        from tui.app import run_app
    except ImportError as exc:  # the app arrives with the TUI; until then say so plainly
        raise UserError(f"the app cannot start: {exc}") from exc
    run_app(obj.ws, lang=obj.lang)


def _register() -> None:
    """Attach every command group that exists (each module adds its own)."""
    import importlib
    import pkgutil

    package_dir = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"tui.cli.{info.name}")
        register = getattr(module, "register", None)
        if register:
            register(cli)


_register()


def command_path(argv: list[str]) -> str:
    """``nastavnik pairs import`` for ``["--home", "w", "pairs", "import", "a.jsonl"]``: the
    words of ``argv`` that name a group or a command, in order."""
    words, group = ["nastavnik"], cli
    for arg in argv:
        sub = group.commands.get(arg) if isinstance(group, click.Group) else None
        if sub is None:
            continue
        words.append(arg)
        group = sub
        if not isinstance(sub, click.Group):
            break
    return " ".join(words)


def report_user_error(exc: UserError, argv: list[str]) -> None:
    """What a person reads on stderr, in one line: the command, what went wrong, what to do."""
    click.echo(f"{command_path(argv)}: error: {exc.message}" + (f" — {exc.hint}" if exc.hint else ""), err=True)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="nastavnik", standalone_mode=False)
    except UserError as exc:
        report_user_error(exc, args)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:
        return 0
    return 0


def entry() -> None:
    sys.exit(main())
