"""What every command prints the same way: a UserError (the command, message and hint on one
line, exit 2) and progress (one redrawn line on a terminal, plain lines otherwise)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr

from core.errors import UserError
from core.progress import ProgressEvent
from tui.cli import ProgressPrinter, command_path


def test_a_user_error_names_the_command_and_says_what_to_do(cli):
    r = cli("pairs", "approve", "abc")
    assert r.code == 2
    assert r.err == "nastavnik pairs approve: error: 'abc' is not a pair id — give ids like 12, 12,15 or 12-20\n"
    r = cli("prefs", "show", "999")  # one without a hint
    assert r.code == 2 and r.err.startswith("nastavnik prefs show: error: no preference with id 999")


def test_the_command_path_skips_options_and_arguments():
    assert command_path(["--home", "/tmp/w", "pairs", "import", "a.jsonl", "--json"]) == "nastavnik pairs import"
    assert command_path(["export", "3", "--quant", "q8_0"]) == "nastavnik export"
    assert command_path([]) == "nastavnik"


def test_a_user_error_keeps_message_and_hint_apart():
    exc = UserError("the question is empty", hint="give the question with -q")
    assert (exc.message, exc.hint) == ("the question is empty", "give the question with -q")
    assert str(exc) == "the question is empty — give the question with -q"
    assert exc.lines() == ["the question is empty", "give the question with -q"]
    assert str(UserError("no hint")) == "no hint" and UserError("no hint").lines() == ["no hint"]


def _printed(events, **kw) -> str:
    err = io.StringIO()
    with redirect_stderr(err), ProgressPrinter(**kw) as progress:
        for e in events:
            progress(e)
    return err.getvalue()


STEPS = [ProgressEvent("load", 0, 3, "demo-q8_0"), ProgressEvent("answer", 1, 3, "first"),
         ProgressEvent("answer", 2, 3, "second"), ProgressEvent("answer", 3, 3, "third")]


def test_progress_off_a_terminal_is_plain_lines_at_each_stage_start_and_end():
    text = _printed(STEPS, tty=False, every_s=60)
    assert text == "[load] 0/3 demo-q8_0\n[answer] 1/3 first\n[answer] 3/3 third\n"  # 2/3 came too soon after 1/3
    assert "\r" not in text
    assert _printed([ProgressEvent("fetch", 0, 1, "llama.cpp converter")], tty=False) == "[fetch] llama.cpp converter\n"
    assert _printed([ProgressEvent("import", 10_000, None)], tty=False, every_s=0) == "[import] 10000\n"


def test_progress_on_a_terminal_redraws_one_line_per_stage():
    text = _printed(STEPS, tty=True, every_s=60)
    lines = text.split("\n")
    assert lines[0] == "\r[load] 0/3 demo-q8_0\x1b[K"  # a new stage ends the line of the one before
    assert lines[1].startswith("\r[answer] 1/3 first\x1b[K") and lines[1].endswith("\r[answer] 3/3 third\x1b[K")
    assert lines[2:] == [""]
    unfinished = _printed([ProgressEvent("draft", 1, 5, "q?")], tty=True)
    assert unfinished == "\r[draft] 1/5 q?\x1b[K\n"  # the open line is ended when the work ends


def test_progress_is_silent_for_json_and_for_a_short_step_off_a_terminal():
    assert _printed(STEPS, quiet=True, tty=True) == ""
    assert _printed(STEPS, lines=False, tty=False) == ""
    assert _printed(STEPS[:1], lines=False, tty=True, label="import") == "\rimport: [load] 0/3 demo-q8_0\x1b[K\n"
