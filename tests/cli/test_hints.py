"""Every command and flag a message, hint or help text names exists in the real CLI.

The source of ``core/`` and ``tui/`` is read (not run): each string literal — f-strings and
``"a" + x + "b"`` joins too, their holes standing for any value — is searched for

* backquoted commands, `` `nastavnik pairs show 12` ``: the subcommand path must exist in the
  click tree of ``tui.cli``, each flag must be an option of that command, and a command must
  not be given more arguments than it takes (``nastavnik train status`` is refused that way);
* any other ``--flag`` in a user-facing string (a message, a hint, a notification, a
  translation): it must be an option of some ``nastavnik`` command.

Help texts are checked from the click tree itself: the example lines and backquoted commands
of every command's help, and every flag it mentions against that command (or its groups).
Strings that are not shown to users are skipped: docstrings of modules, classes and plain
functions (help texts come from click), the argv lists handed to other programs, and the
option declarations themselves.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from tests.support.paths import REPO
from tui.cli import cli as ROOT

SOURCES = sorted([*REPO.glob("core/**/*.py"), *REPO.glob("tui/**/*.py")])
HOLE = "\x00"  # where an f-string or a join puts a value
FLAG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
BACKQUOTED = re.compile(r"`+([^`]+)`+")

# Flags hints name before the option lands. Each entry says who removes it; once the option
# exists, test_every_pending_flag_is_still_missing fails until the entry is gone.
PENDING: dict[tuple[str | None, str], str] = {
    # a hint may name a command or flag that is on its way, with a note saying whose change adds it;
    # test_every_pending_flag_is_still_missing_and_still_named fails once it exists, so the entry goes
}


# ---------------------------------------------------------------------------- the CLI


def walk(cmd: click.Command, path: tuple[str, ...] = ("nastavnik",), parents: tuple[click.Command, ...] = ()):
    yield path, cmd, parents
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from walk(sub, path + (name,), parents + (cmd,))


def options_of(cmd: click.Command) -> dict[str, click.Option]:
    out = {name: None for name in ("--help", "-h")}
    for p in cmd.params:
        if isinstance(p, click.Option):
            for name in (*p.opts, *p.secondary_opts):
                out[name] = p
    return out


ALL_FLAGS = {name for _, cmd, _ in walk(ROOT) for name in options_of(cmd) if name.startswith("--")}


def check_command(text: str, *, pending: set) -> list[str]:
    """What is wrong with the command line ``text`` (starting with ``nastavnik``); [] if nothing."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    cmd: click.Command = ROOT
    path = ["nastavnik"]
    positional = 0
    problems = []
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        elided = "…" in tok or "..." in tok
        tok = tok.replace("…", "").replace("...", "")
        if tok.startswith("-") and tok != "-" and HOLE not in tok:
            name = tok.split("=", 1)[0]
            opts = options_of(cmd)
            if name not in opts:
                key = (" ".join(path), name)
                if key in PENDING:
                    pending.add(key)
                else:
                    problems.append(f"`{' '.join(path)}` has no option {name}")
            else:
                opt = opts[name]
                if opt is not None and not opt.is_flag and not opt.count and "=" not in tok:
                    i += max(1, opt.nargs)  # its value
        elif elided or not tok:
            pass
        elif HOLE in tok:
            if isinstance(cmd, click.Group):
                break  # a command name made at run time: nothing more to check
            positional += 1
        elif isinstance(cmd, click.Group):
            sub = cmd.commands.get(tok)
            if sub is None:
                problems.append(f"`{' '.join(path)}` has no command {tok!r} (it has: {', '.join(sorted(cmd.commands))})")
                break
            cmd, positional = sub, 0
            path.append(tok)
        else:
            positional += 1
            room = sum(float("inf") if a.nargs < 0 else a.nargs for a in cmd.params if isinstance(a, click.Argument))
            if positional > room:
                problems.append(f"`{' '.join(path)}` takes {int(room) if room else 'no'} argument(s), got {tok!r} too")
                break
        if elided:
            break
        i += 1
    return problems


def commands_in(text: str) -> list[str]:
    """The ``nastavnik …`` command lines in backquotes (chains split on && | ;)."""
    out = []
    for quoted in BACKQUOTED.findall(text):
        for piece in re.split(r"&&|\|\|?|;", quoted):
            piece = piece.strip()
            if piece == "nastavnik" or piece.startswith("nastavnik "):
                out.append(piece)
    return out


# ---------------------------------------------------------------------------- the source


@dataclass
class Literal:
    where: str
    text: str
    user_facing: bool  # False: a docstring, an argv list, an option declaration


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else HOLE) + (right if right is not None else HOLE)
    return None


_DECLARING = {"option", "argument", "add_argument", "Option", "Argument", "remove"}


def literals(path: Path) -> list[Literal]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp)):
            continue
        up = parent.get(node)
        if isinstance(up, (ast.JoinedStr, ast.BinOp)) and _text(up) is not None:
            continue  # part of a larger string
        text = _text(node)
        if not text or ("`" not in text and "--" not in text):
            continue
        call = up.value if isinstance(up, ast.keyword) else up
        call = parent.get(call) if isinstance(up, ast.keyword) else call
        declaring = isinstance(call, ast.Call) and getattr(call.func, "attr", getattr(call.func, "id", None)) in _DECLARING
        widget_id = isinstance(up, ast.keyword) and up.arg in ("id", "classes")  # a DOM name, never shown
        user_facing = not (
            id(node) in docstrings or isinstance(up, (ast.List, ast.Tuple, ast.Set, ast.Compare)) or declaring or widget_id
        )
        out.append(Literal(f"{path.relative_to(REPO)}:{node.lineno}", text, user_facing))
    return out


def problems_in(items: list[Literal], pending: set) -> list[str]:
    problems = []
    for lit in items:
        text = lit.text
        for command in commands_in(text):
            problems += [f"{lit.where}: {p}" for p in check_command(command, pending=pending)]
            text = text.replace(command, "")
        if lit.user_facing:
            for flag in FLAG.findall(text):
                if flag in ALL_FLAGS:
                    continue
                if (None, flag) in PENDING:
                    pending.add((None, flag))
                elif ("nastavnik train", flag) in PENDING:
                    pending.add(("nastavnik train", flag))
                else:
                    problems.append(f"{lit.where}: no nastavnik command has the option {flag}")
    return problems


def help_problems(pending: set) -> list[str]:
    """Help texts: their example lines and backquoted commands, and each flag they mention."""
    problems = []
    for path, cmd, parents in walk(ROOT):
        name = " ".join(path)
        own = {f for c in (cmd, *parents) for f in options_of(c)}
        texts = [cmd.help or ""] + [p.help or "" for p in cmd.params if isinstance(p, click.Option)]
        for text in texts:
            for line in text.splitlines():
                line = line.split("  #", 1)[0].strip()
                for piece in re.split(r"&&|\|", line) if line.startswith(("nastavnik ", "echo ")) else ():
                    piece = piece.strip()
                    if piece.startswith("nastavnik "):
                        problems += [f"help of `{name}`: {p}" for p in check_command(piece, pending=pending)]
            for command in commands_in(text):
                problems += [f"help of `{name}`: {p}" for p in check_command(command, pending=pending)]
            prose = "\n".join(line for line in text.splitlines() if not line.strip().startswith(("nastavnik ", "echo ")))
            for command in commands_in(prose):
                prose = prose.replace(command, "")
            for flag in FLAG.findall(prose):
                if flag not in own:
                    problems.append(f"help of `{name}` mentions {flag}, which is not one of its options")
    return problems


# ---------------------------------------------------------------------------- the tests


def test_the_checker_knows_real_commands_from_made_up_ones():
    ok = set()
    assert check_command("nastavnik runs show 3 --json", pending=ok) == []
    assert check_command("nastavnik pairs edit 12 --file x.txt --force", pending=ok) == []
    assert check_command(f"nastavnik pairs edit {HOLE} --file {HOLE}", pending=ok) == []
    assert check_command("nastavnik pairs add -q \"Что?\" -a \"Это.\" -t основы", pending=ok) == []
    assert check_command("nastavnik runs …", pending=ok) == []
    assert check_command("nastavnik --home /tmp/x demo --if-missing", pending=ok) == []
    assert check_command("nastavnik train status", pending=ok) == ["`nastavnik train` takes no argument(s), got 'status' too"]
    assert check_command("nastavnik train list", pending=ok)
    assert check_command("nastavnik runs status 3", pending=ok)[0].startswith("`nastavnik runs` has no command 'status'")
    assert check_command("nastavnik train --no-4bit", pending=ok) == ["`nastavnik train` has no option --no-4bit"]
    assert check_command("nastavnik pairs list --follow", pending=ok) == ["`nastavnik pairs list` has no option --follow"]
    assert commands_in("see `nastavnik runs logs 3 --follow && nastavnik export 3`, not ``nastavnik x``") == [
        "nastavnik runs logs 3 --follow",
        "nastavnik export 3",
        "nastavnik x",
    ]
    bad = [Literal("x.py:1", "pass --no-4bit", True), Literal("x.py:2", "[\"--outtype\"]", False)]
    assert problems_in(bad, set()) == ["x.py:1: no nastavnik command has the option --no-4bit"]


def test_every_command_and_flag_named_in_the_source_exists():
    pending: set = set()
    problems = [p for f in SOURCES for p in problems_in(literals(f), pending)]
    assert not problems, "\n".join(problems)


def test_every_help_text_names_real_commands_and_its_own_flags():
    problems = help_problems(set())
    assert not problems, "\n".join(problems)


def test_the_scan_sees_the_hints_it_is_meant_to_check():
    """A guard on the scanner itself: it finds hints known to be there, f-strings and joins included."""
    found = {(lit.where.split(":")[0], cmd) for f in SOURCES for lit in literals(f) for cmd in commands_in(lit.text)}
    assert ("core/export/source.py", "nastavnik runs list") in found
    assert ("core/export/source.py", f"nastavnik runs show {HOLE}") in found  # an f-string
    assert ("core/export/source.py", f"nastavnik chat {HOLE}") in found  # "…" + ref + "…"
    assert ("tui/cli/pairs.py", f"nastavnik pairs edit {HOLE} --file {HOLE} --force") in found
    assert len(found) > 40


@pytest.mark.parametrize("key", sorted(PENDING, key=str))
def test_every_pending_flag_is_still_missing_and_still_named(key):
    """An allow-list entry goes as soon as its option exists (or no hint names it any more)."""
    where, flag = key
    commands = [cmd for path, cmd, _ in walk(ROOT) if where is None or " ".join(path) == where]
    assert commands, f"{where} is not a command"
    assert not any(flag in options_of(c) for c in commands), f"{flag} exists now: remove its PENDING entry ({PENDING[key]})"
    pending: set = set()
    for f in SOURCES:
        problems_in(literals(f), pending)
    assert key in pending, f"no hint names {flag} any more: remove its PENDING entry"
