"""The one way tests run ``nastavnik``: in-process, with its exit code, stdout and stderr."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple


class Result(NamedTuple):
    """What a command left: ``r.code``/``r.out``/``r.err``, or ``code, out, err = r``."""

    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def run_cli(home: Path, *args: str, stdin: str | None = None) -> Result:
    """``nastavnik --home HOME ARGS…`` in-process; ``stdin``: what the command reads, if given."""
    from tui.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["--home", str(home), *map(str, args)])
    finally:
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue())
